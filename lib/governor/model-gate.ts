import { parseRetryAfter } from "./limits";

/** One model call as the governor sees it, before it is made. */
export interface ModelCallRequest {
  model: string;
  gatewayUrl: string;
  /** Everything the call sends as prompt (for the chars/4 token estimate). */
  promptText: string;
  maxTokens?: number;
}

export interface ModelCallUsage {
  promptTokens: number;
  completionTokens: number;
}

/**
 * What an executor gets from the runner to govern its model calls (StepContext.modelGate): the budget check and a
 * place in the model's and gateway's lines before each call, and the pause of a model's line after a 429.
 */
export interface ModelGate {
  /** Throws BUDGET_EXCEEDED when the call could take the run or workflow over its cap; else waits for its turn. */
  acquire(request: ModelCallRequest, signal: AbortSignal): Promise<{ release(usage?: ModelCallUsage): Promise<void> }>;
  /** Pauses the model's line for everyone (in queue mode: every worker) for `ms`. */
  pause(model: string, ms: number): Promise<void>;
}

/** 429s a call absorbs (pausing its line each time) before the step sees one. */
export const MAX_RATE_LIMIT_RETRIES = 8;
/** A Retry-After longer than this is not waited out: the step fails with the provider's answer. */
export const MAX_RETRY_AFTER_MS = 10 * 60_000;
/** The pause after a 429 without a readable Retry-After: 1 s, doubling per 429 of the same call. */
const fallbackPauseMs = (retry: number) => Math.min(1000 * 2 ** retry, 60_000);

/** The HTTP status of a failed call (the OpenAI client's APIError), if it has one. */
function statusOf(err: unknown): number | undefined {
  const status = (err as { status?: unknown } | null)?.status;
  return typeof status === "number" ? status : undefined;
}

/** Retry-After of a failed call's response (the OpenAI client keeps the response headers on its error). */
export function retryAfterOf(err: unknown): number | undefined {
  const headers = (err as { headers?: unknown } | null)?.headers;
  let value: string | null | undefined;
  if (headers && typeof (headers as Headers).get === "function") value = (headers as Headers).get("retry-after");
  else if (headers && typeof headers === "object") value = (headers as Record<string, string | undefined>)["retry-after"];
  return parseRetryAfter(value);
}

/**
 * Makes one model call under the gate: waits for its turn, calls, releases with the reported usage. A 429 pauses
 * the model's line for everyone for its Retry-After and the call lines up again (at most MAX_RATE_LIMIT_RETRIES
 * times), so the step never sees it. Without a gate (an executor called outside the runner) it just calls.
 */
export async function governedModelCall<T extends { usage?: ModelCallUsage }>(
  gate: ModelGate | undefined,
  request: ModelCallRequest,
  signal: AbortSignal,
  call: () => Promise<T>,
  log?: (text: string) => void,
): Promise<T> {
  if (!gate) return call();
  for (let retry = 0; ; retry++) {
    const permit = await gate.acquire(request, signal);
    let usage: ModelCallUsage | undefined;
    try {
      const result = await call();
      usage = result.usage;
      return result;
    } catch (err) {
      if (statusOf(err) !== 429 || signal.aborted || retry >= MAX_RATE_LIMIT_RETRIES) throw err;
      const retryAfter = retryAfterOf(err);
      if (retryAfter !== undefined && retryAfter > MAX_RETRY_AFTER_MS) throw err;
      const ms = retryAfter ?? fallbackPauseMs(retry);
      log?.(`the gateway answered 429 (rate limited) for model "${request.model}": its line pauses for ${Math.ceil(ms / 100) / 10} s${retryAfter === undefined ? " (no Retry-After)" : ""}, then the call is made again`);
      await gate.pause(request.model, ms);
    } finally {
      await permit.release(usage);
    }
  }
}
