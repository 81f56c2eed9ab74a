import { ChatOpenAICompletions } from "@langchain/openai";
import { AIMessage, HumanMessage, SystemMessage, type BaseMessage, type UsageMetadata } from "@langchain/core/messages";
import { governedModelCall } from "@/lib/governor/model-gate";
import { schemaProblems } from "@/lib/workflow/input";
import { nestingProblem } from "@/lib/workflow/limits";
import { isRetryableStatus, OrchestratorError, StepError } from "../errors";
import { configNumber, stepModel } from "./config-values";
import type { StepExecutor } from "./types";

export interface LlmOutput {
  text: string;
  model: string;
  usage: { promptTokens: number; completionTokens: number; totalTokens: number };
}

/**
 * Calls an OpenAI-compatible gateway (LLM_GATEWAY_URL / LLM_API_KEY or the Settings page) with streaming,
 * forwarding each token to the live run view.
 */
export const llmExecutor: StepExecutor = async (config, ctx): Promise<unknown> => {
  const baseURL = ctx.settings.llmGatewayUrl;
  if (!baseURL)
    throw new StepError(
      "LLM_NOT_CONFIGURED",
      "No LLM gateway configured: set LLM_GATEWAY_URL (e.g. http://127.0.0.1:4000/v1) and LLM_API_KEY, or set the gateway on the Settings page.",
      { stepId: ctx.stepId },
    );
  const model = stepModel(config, ctx.settings, ctx.stepId);
  // ChatOpenAICompletions, not ChatOpenAI: ChatOpenAI silently switches some model names (codex, gpt-5.x-pro) to
  // the Responses API (/v1/responses), which OpenAI-compatible gateways generally don't serve.
  const maxTokens = configNumber(config.maxTokens, "maxTokens", ctx.stepId, { positive: true });
  const chat = new ChatOpenAICompletions({
    model,
    apiKey: ctx.settings.llmApiKey || "not-needed", // local gateways (Ollama, vLLM) ignore the key, the client requires one
    configuration: { baseURL },
    temperature: configNumber(config.temperature, "temperature", ctx.stepId),
    maxTokens,
    streaming: true,
    streamUsage: true,
    // Retries belong to the step's retry policy (visible per attempt), not to the client library.
    maxRetries: 0,
  });
  const messages = buildMessages(config, ctx.stepId);
  const stop = stopSequences(config.stop, ctx.stepId);
  const schema = config.responseSchema as Record<string, unknown> | undefined;
  if (schema) messages.unshift(new SystemMessage(`Reply with only a JSON value that matches this JSON Schema, no prose and no code fences:\n${JSON.stringify(schema)}`));

  // One model call under the governor (budget, rate limits; a 429 pauses the model's line and the call lines up
  // again, so the step does not see it).
  const ask = (conversation: BaseMessage[]) =>
    governedModelCall(
      ctx.modelGate,
      { model, gatewayUrl: baseURL, promptText: conversation.map((m) => (typeof m.content === "string" ? m.content : JSON.stringify(m.content))).join("\n"), maxTokens },
      ctx.signal,
      () => callOnce(conversation),
      (text) => ctx.log("info", text),
    ).catch((err) => {
      if (err instanceof OrchestratorError) throw err;
      // A 429 the governor could not absorb (too many, or a Retry-After beyond its limit): retryable like any 429.
      throw new StepError("LLM_REQUEST_FAILED", describeGatewayError(err, baseURL, model), { stepId: ctx.stepId, cause: err, retryable: true });
    });

  const callOnce = async (conversation: BaseMessage[]) => {
    let text = "";
    let usage: UsageMetadata | undefined;
    // The OpenAI client adds an abort listener to the signal it is given and never removes it: given the run's
    // signal, a run would keep one per model call. A signal of this call's own goes with it.
    const call = new AbortController();
    const abortCall = () => call.abort(ctx.signal.reason);
    if (ctx.signal.aborted) abortCall();
    else ctx.signal.addEventListener("abort", abortCall, { once: true });
    try {
      for await (const chunk of await chat.stream(conversation, { signal: call.signal, ...(stop ? { stop } : {}) })) {
        const piece = typeof chunk.content === "string" ? chunk.content : "";
        if (piece) {
          text += piece;
          ctx.emitToken(piece);
        }
        // Usage arrives on its own final, content-less chunk (stream_options.include_usage).
        if (chunk.usage_metadata) usage = chunk.usage_metadata;
      }
    } catch (err) {
      if (ctx.signal.aborted) throw new StepError("CANCELLED", "the LLM request was cancelled", { stepId: ctx.stepId, cause: err });
      const status = (err as { status?: unknown })?.status;
      // A 429 goes to the governor as it is (it reads the status and Retry-After), which absorbs it while it may.
      if (status === 429 && ctx.modelGate && !text) throw err;
      const retryable = typeof status === "number" ? isRetryableStatus(status) : true; // no status: network failure
      throw new StepError("LLM_REQUEST_FAILED", describeGatewayError(err, baseURL, model), { stepId: ctx.stepId, cause: err, retryable });
    } finally {
      ctx.signal.removeEventListener("abort", abortCall);
    }
    const counted = { promptTokens: usage?.input_tokens ?? 0, completionTokens: usage?.output_tokens ?? 0, totalTokens: usage?.total_tokens ?? 0 };
    ctx.reportUsage({ model, ...counted });
    return { text, usage: counted };
  };

  const first = await ask(messages);
  if (!schema) return { text: first.text, model, usage: first.usage };

  // Structured output: the parsed JSON is the output. One more try with the problems pointed out, then fail.
  let reply = first;
  for (let attempt = 1; ; attempt++) {
    const parsed = parseJsonReply(reply.text);
    // Too deep is checked before Ajv, which recurses per level for a recursive schema.
    const tooDeep = parsed.ok ? nestingProblem(parsed.value, "output") : null;
    const problems = !parsed.ok ? [`not valid JSON (${parsed.error})`] : tooDeep ? [tooDeep.message] : schemaProblems(schema, parsed.value, "output");
    if (!problems.length) return parsed.ok ? parsed.value : null;
    if (attempt >= 2)
      throw new StepError("LLM_INVALID_JSON", `step "${ctx.stepId}": the model's reply does not match responseSchema after a retry: ${problems.join("; ")}`, { stepId: ctx.stepId });
    ctx.log("warn", `reply does not match responseSchema (${problems.join("; ")}); asking once more`);
    reply = await ask([...messages, new AIMessage(reply.text), new HumanMessage(`That reply is not usable: ${problems.join("; ")}. Reply again with only the JSON value.`)]);
  }
};

/** `messages` (system/user/assistant turns) when given, else `system` + `prompt`. */
function buildMessages(config: Record<string, unknown>, stepId: string): BaseMessage[] {
  if (Array.isArray(config.messages) && config.messages.length) {
    return config.messages.map((m, i) => {
      const { role, content } = (m ?? {}) as { role?: unknown; content?: unknown };
      const text = typeof content === "string" ? content : JSON.stringify(content ?? "");
      if (role === "system") return new SystemMessage(text);
      if (role === "assistant") return new AIMessage(text);
      if (role === "user") return new HumanMessage(text);
      throw new StepError("INVALID_INPUT", `step "${stepId}" field "messages.${i}.role" must be system, user or assistant`, { stepId });
    });
  }
  return [
    ...(typeof config.system === "string" && config.system ? [new SystemMessage(config.system)] : []),
    new HumanMessage(String(config.prompt ?? "")),
  ];
}

function stopSequences(value: unknown, stepId: string): string[] | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  const list = Array.isArray(value) ? value : [value];
  if (!list.every((s) => typeof s === "string")) throw new StepError("INVALID_INPUT", `step "${stepId}" field "stop" must be a list of strings`, { stepId });
  return list.length ? (list as string[]) : undefined;
}

/** Models often wrap JSON in a code fence or add a sentence; take the JSON value out. */
function parseJsonReply(text: string): { ok: true; value: unknown } | { ok: false; error: string } {
  const fenced = /```(?:json)?\s*([\s\S]*?)```/i.exec(text)?.[1];
  const candidates = [text.trim(), fenced?.trim(), text.slice(text.search(/[[{]/)).trim()].filter((c): c is string => Boolean(c));
  let error = "empty reply";
  for (const candidate of candidates) {
    try {
      return { ok: true, value: JSON.parse(candidate) };
    } catch (err) {
      error = (err as Error).message;
    }
  }
  return { ok: false, error };
}

/** One line for the run page: the HTTP status and the gateway's own message, or why it could not be reached. */
function describeGatewayError(err: unknown, baseURL: string, model: string): string {
  const e = err as { status?: unknown; message?: unknown; error?: { message?: unknown } } | undefined;
  if (typeof e?.status === "number") {
    // Prefer the body's message: LangChain appends a troubleshooting URL to err.message for some statuses.
    const detail = typeof e.error?.message === "string" ? e.error.message : firstLine(e.message);
    return `the LLM gateway at ${baseURL} answered HTTP ${e.status} for model "${model}": ${detail}`;
  }
  // Connection failures nest the useful part (ECONNREFUSED, ENOTFOUND…) in the cause chain.
  let code: string | undefined;
  for (let c: unknown = err; c && typeof c === "object" && !code; c = (c as { cause?: unknown }).cause) {
    const value = (c as { code?: unknown }).code;
    if (typeof value === "string") code = value;
  }
  return `could not reach the LLM gateway at ${baseURL}: ${firstLine(e?.message ?? err)}${code ? ` (${code})` : ""}`;
}

function firstLine(message: unknown): string {
  return String(message ?? "unknown error").split("\n")[0].trim();
}
