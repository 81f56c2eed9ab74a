import { ChatOpenAICompletions } from "@langchain/openai";
import { HumanMessage, SystemMessage, type UsageMetadata } from "@langchain/core/messages";
import { isRetryableStatus, StepError } from "../errors";
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
export const llmExecutor: StepExecutor = async (config, ctx): Promise<LlmOutput> => {
  const baseURL = ctx.settings.llmGatewayUrl;
  if (!baseURL)
    throw new StepError(
      "LLM_NOT_CONFIGURED",
      "No LLM gateway configured: set LLM_GATEWAY_URL (e.g. http://127.0.0.1:4000/v1) and LLM_API_KEY, or set the gateway on the Settings page.",
      { stepId: ctx.stepId },
    );
  const model = String(config.model);
  // ChatOpenAICompletions, not ChatOpenAI: ChatOpenAI silently switches some model names (codex, gpt-5.x-pro) to
  // the Responses API (/v1/responses), which OpenAI-compatible gateways generally don't serve.
  const chat = new ChatOpenAICompletions({
    model,
    apiKey: ctx.settings.llmApiKey || "not-needed", // local gateways (Ollama, vLLM) ignore the key, the client requires one
    configuration: { baseURL },
    temperature: optionalNumber(config.temperature, "temperature", ctx.stepId),
    maxTokens: optionalNumber(config.maxTokens, "maxTokens", ctx.stepId),
    streaming: true,
    streamUsage: true,
    // Retries belong to the step's retry policy (visible per attempt), not to the client library.
    maxRetries: 0,
  });
  const messages = [
    ...(typeof config.system === "string" && config.system ? [new SystemMessage(config.system)] : []),
    new HumanMessage(String(config.prompt)),
  ];

  let text = "";
  let usage: UsageMetadata | undefined;
  try {
    for await (const chunk of await chat.stream(messages, { signal: ctx.signal })) {
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
    const retryable = typeof status === "number" ? isRetryableStatus(status) : true; // no status: network failure
    throw new StepError("LLM_REQUEST_FAILED", describeGatewayError(err, baseURL, model), { stepId: ctx.stepId, cause: err, retryable });
  }
  return {
    text,
    model,
    usage: {
      promptTokens: usage?.input_tokens ?? 0,
      completionTokens: usage?.output_tokens ?? 0,
      totalTokens: usage?.total_tokens ?? 0,
    },
  };
};

/** Templates render to strings, so "0.2" and 0.2 are both accepted; blank means "use the model's default". */
function optionalNumber(value: unknown, field: string, stepId: string): number | undefined {
  if (value === undefined || value === null || (typeof value === "string" && value.trim() === "")) return undefined;
  const n = typeof value === "number" || typeof value === "string" ? Number(value) : NaN;
  if (!Number.isFinite(n)) throw new StepError("STEP_FAILED", `config.${field} must be a number, got ${JSON.stringify(value)}`, { stepId });
  return n;
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
