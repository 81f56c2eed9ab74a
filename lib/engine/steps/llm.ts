import { ChatOpenAI } from "@langchain/openai";
import { HumanMessage, SystemMessage, type AIMessageChunk } from "@langchain/core/messages";
import { StepError } from "../errors";
import type { StepExecutor } from "./types";

/**
 * Calls an OpenAI-compatible gateway (LLM_GATEWAY_URL / LLM_API_KEY or the Settings page) with streaming,
 * forwarding each token to the live run view. Output: { text, model, usage }.
 */
export const llmExecutor: StepExecutor = async (config, ctx) => {
  const baseURL = ctx.settings.llmGatewayUrl;
  if (!baseURL)
    throw new StepError(
      "LLM_NOT_CONFIGURED",
      "No LLM gateway configured: set LLM_GATEWAY_URL (e.g. http://127.0.0.1:4000/v1) and LLM_API_KEY, or set the gateway on the Settings page.",
      { stepId: ctx.stepId },
    );
  const model = String(config.model);
  const chat = new ChatOpenAI({
    model,
    apiKey: ctx.settings.llmApiKey || "not-needed", // local gateways (Ollama, vLLM) ignore the key
    configuration: { baseURL },
    temperature: optionalNumber(config.temperature, "temperature", ctx.stepId),
    maxTokens: optionalNumber(config.maxTokens, "maxTokens", ctx.stepId),
    streaming: true,
    streamUsage: true,
    maxRetries: 1,
  });
  const messages = [
    ...(config.system ? [new SystemMessage(String(config.system))] : []),
    new HumanMessage(String(config.prompt)),
  ];

  let text = "";
  let usage: AIMessageChunk["usage_metadata"];
  try {
    const stream = await chat.stream(messages, { signal: ctx.signal });
    for await (const chunk of stream) {
      const piece = typeof chunk.content === "string" ? chunk.content : "";
      if (piece) {
        text += piece;
        ctx.emitToken(piece);
      }
      if (chunk.usage_metadata) usage = chunk.usage_metadata;
    }
  } catch (err) {
    if (ctx.signal.aborted) throw err;
    throw new StepError("LLM_REQUEST_FAILED", describeGatewayError(err, baseURL), { stepId: ctx.stepId, cause: err });
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

function optionalNumber(value: unknown, field: string, stepId: string): number | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new StepError("STEP_FAILED", `field "config.${field}" must be a number, got ${JSON.stringify(value)}`, { stepId });
  return n;
}

function describeGatewayError(err: unknown, baseURL: string): string {
  const e = err as { status?: number; message?: string; error?: { message?: string }; cause?: { code?: string } };
  if (typeof e?.status === "number") return `the LLM gateway answered HTTP ${e.status}: ${e.error?.message ?? e.message ?? "no message"}`;
  const message = (e?.message ?? String(err)).split("\n")[0];
  return `could not reach the LLM gateway at ${baseURL}: ${message}`;
}
