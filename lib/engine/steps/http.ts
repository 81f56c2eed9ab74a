import { EMPTY_ALLOW_LIST } from "@/lib/net/address-policy";
import { BlockedRequestError, guardedFetch, ResponseTooLargeError } from "@/lib/net/guarded-http";
import { nestingProblem } from "@/lib/workflow/limits";
import { isRetryableStatus, StepError } from "../errors";
import { redactUrl } from "@/lib/net/credentials";
import { configNumber } from "./config-values";
import type { StepExecutor } from "./types";

export interface HttpOutput {
  status: number;
  headers: Record<string, string>;
  /** Parsed JSON when the response is JSON (or responseType is json), text otherwise. */
  body: unknown;
}

const DEFAULT_TIMEOUT_MS = 30_000;

/**
 * Calls an HTTP API through the SSRF guard (lib/net): only public addresses unless the admin allow-list
 * (ORCHESTRATOR_HTTP_ALLOW / Settings) opens one. A status outside 2xx fails the step unless `acceptStatus`
 * lists it; 429/5xx and network errors are retryable under the step's retry policy.
 */
export const httpExecutor: StepExecutor = async (config, ctx): Promise<HttpOutput> => {
  const method = String(config.method ?? "GET").toUpperCase();
  let url: URL;
  try {
    url = new URL(String(config.url));
  } catch {
    throw new StepError("INVALID_INPUT", `step "${ctx.stepId}" field "url": "${redactUrl(String(config.url))}" is not a valid URL (write e.g. https://api.example.com/items)`, { stepId: ctx.stepId });
  }
  for (const [name, value] of Object.entries((config.query as Record<string, unknown>) ?? {}))
    for (const item of Array.isArray(value) ? value : [value]) if (item !== undefined && item !== null) url.searchParams.append(name, typeof item === "string" ? item : JSON.stringify(item));

  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries((config.headers as Record<string, unknown>) ?? {})) headers[name.toLowerCase()] = String(value);
  let body: string | undefined;
  if (config.body !== undefined && config.body !== null && method !== "GET" && method !== "HEAD") {
    body = typeof config.body === "string" ? config.body : JSON.stringify(config.body);
    if (typeof config.body !== "string") headers["content-type"] ??= "application/json";
  }

  const timeoutMs = configNumber(config.timeoutMs, "timeoutMs", ctx.stepId, { positive: true }) ?? DEFAULT_TIMEOUT_MS;
  const timeout = AbortSignal.timeout(timeoutMs);
  const where = `${method} ${url.origin}${url.pathname}`;
  let response;
  const started = Date.now();
  // The log shows the URL without credentials in it (?api_key=…, user:password@); the request carries them.
  ctx.log("info", `${method} ${redactUrl(url.toString())}`);
  try {
    response = await guardedFetch({
      onRedirect: (status, to) => ctx.log("info", `${status} redirect to ${redactUrl(to)}`),
      method,
      url: url.toString(),
      headers,
      body,
      signal: AbortSignal.any([ctx.signal, timeout]),
      allow: ctx.settings.httpAllow ?? EMPTY_ALLOW_LIST,
      maxResponseBytes: typeof config.maxResponseBytes === "number" ? config.maxResponseBytes : undefined,
    });
  } catch (err) {
    if (ctx.signal.aborted) throw err;
    if (err instanceof BlockedRequestError) throw new StepError("HTTP_BLOCKED", `step "${ctx.stepId}": ${err.message}`, { stepId: ctx.stepId });
    if (err instanceof ResponseTooLargeError) throw new StepError("HTTP_RESPONSE_TOO_LARGE", `${where}: ${err.message}`, { stepId: ctx.stepId });
    if (timeout.aborted) throw new StepError("HTTP_TIMEOUT", `${where} did not answer within ${timeoutMs} ms`, { stepId: ctx.stepId, retryable: true });
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const reason = cause?.code ?? cause?.message ?? (err as Error).message;
    throw new StepError("HTTP_REQUEST_FAILED", `${where} failed: ${reason}`, { stepId: ctx.stepId, retryable: true, cause: err });
  }

  ctx.log("info", `answered ${response.status} with ${response.body.length} bytes in ${Date.now() - started} ms`);
  const text = response.body.toString("utf8");
  const contentType = response.headers["content-type"] ?? "";
  const responseType = String(config.responseType ?? "auto");
  let parsed: unknown = text;
  if (responseType === "json" || (responseType === "auto" && /[/+]json\b/i.test(contentType) && text.length > 0)) {
    try {
      parsed = JSON.parse(text);
    } catch {
      if (responseType === "json") throw new StepError("HTTP_INVALID_JSON", `${where} answered with a body that is not JSON (set responseType to text to keep it as text)`, { stepId: ctx.stepId });
    }
    // Parsing is iterative, but the output goes on to the checkpoint serializer, which is not.
    const tooDeep = nestingProblem(parsed, "body");
    if (tooDeep)
      throw new StepError("NESTING_LIMIT", `${where} answered with JSON that is too deep: ${tooDeep.message} (set responseType to text to keep it as text)`, { stepId: ctx.stepId });
  }
  const accepted = (config.acceptStatus as number[] | undefined) ?? [];
  if ((response.status < 200 || response.status > 299) && !accepted.includes(response.status))
    throw new StepError(
      "HTTP_ERROR",
      `${where} answered ${response.status}${text ? `: ${text.slice(0, 300)}` : ""} (list the status in acceptStatus to treat it as an answer)`,
      { stepId: ctx.stepId, retryable: isRetryableStatus(response.status) },
    );
  return { status: response.status, headers: response.headers, body: parsed };
};
