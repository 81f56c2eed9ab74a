/**
 * Typed errors of the engine. Every failure that reaches a user carries a stable `code` (a public contract used
 * by the CLI's `--json` output, the REST API and the run page) and a message that says what to fix.
 */
export type ErrorCode =
  | "INVALID_DEFINITION"
  | "INVALID_INPUT"
  | "TEMPLATE_ERROR"
  | "EXPRESSION_LIMIT"
  | "LLM_NOT_CONFIGURED"
  | "LLM_REQUEST_FAILED"
  | "STEP_FAILED"
  | "LOOP_LIMIT"
  | "NESTING_LIMIT"
  | "CANCELLED"
  | "STEP_TIMEOUT"
  | "OUTPUT_INVALID"
  | "REJECTED"
  | "HTTP_BLOCKED"
  | "HTTP_ERROR"
  | "HTTP_TIMEOUT"
  | "HTTP_REQUEST_FAILED"
  | "HTTP_RESPONSE_TOO_LARGE"
  | "HTTP_INVALID_JSON"
  | "LLM_INVALID_JSON"
  | "CODE_ERROR"
  | "CODE_TIMEOUT"
  | "CODE_MEMORY" // no longer emitted: kept so records of older runs still type-check
  | "CODE_MEMORY_LIMIT"
  | "CODE_OUTPUT_INVALID"
  | "KILO_NOT_INSTALLED"
  | "KILO_TIMEOUT"
  | "KILO_FAILED"
  | "KILO_SANDBOX_UNAVAILABLE"
  | "SUB_WORKFLOW_FAILED"
  | "SUB_WORKFLOW_DEPTH"
  | "SECRET_NOT_FOUND"
  | "SECRET_UNREADABLE"
  | "NOT_FOUND"
  | "LEASE_LOST"
  | "CRASH_LOOP"
  | "UNAUTHORIZED"
  | "FORBIDDEN"
  | "RATE_LIMITED"
  | "WEBHOOK_TIMESTAMP"
  | "WEBHOOK_REPLAYED"
  | "CONFLICT"
  /** A model call would take its run or workflow over its budget cap (budget.perRunUsd / perMonthUsd); not made. */
  | "BUDGET_EXCEEDED"
  | "PAYLOAD_TOO_LARGE"
  | "UNSUPPORTED_MEDIA_TYPE"
  | "HOST_NOT_ALLOWED"
  | "INTERNAL";

import type { ValidationIssue } from "@/lib/workflow/schema";

/**
 * The HTTP status of each code that can answer a request, in one table (routes, the server's own webhook path and
 * the REST API read it through `errorAnswer`). CONFLICT: the request is fine but the object's state does not allow
 * it now (a run no longer waiting, changed meanwhile, still running). Any other code answering a request is 500.
 */
export const HTTP_STATUS: Partial<Record<ErrorCode, number>> = {
  INVALID_DEFINITION: 400,
  INVALID_INPUT: 400,
  NESTING_LIMIT: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  // A signed webhook's X-Orchestrator-Timestamp missing or outside the replay window / its signature used before.
  WEBHOOK_TIMESTAMP: 401,
  NOT_FOUND: 404,
  CONFLICT: 409,
  WEBHOOK_REPLAYED: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  /** The request's Host is not one this server answers to (DNS rebinding guard, lib/net/allowed-hosts.ts). */
  HOST_NOT_ALLOWED: 421,
  /** Too many requests (sign-in attempts, requests from one client, calls of one webhook); Retry-After says when to try again. */
  RATE_LIMITED: 429,
  /** A budget cap of the workflow (or the run) would be exceeded: raise the cap to go on. */
  BUDGET_EXCEEDED: 402,
};

export interface ErrorAnswer {
  status: number;
  body: { error: SerializedError & { issues?: ValidationIssue[] } };
}

/** A refusal with its status from the table. */
export function refusal(code: ErrorCode, message: string): ErrorAnswer {
  return { status: HTTP_STATUS[code] ?? 500, body: { error: { code, message } } };
}

/**
 * The one place an error thrown while answering a request becomes the answer: typed errors keep their code (and a
 * definition's or input's issues), anything else is 500 INTERNAL with `internalMessage` and no detail (the caller
 * logs it). Never a stack trace.
 */
export function errorAnswer(err: unknown, internalMessage = "the request could not be processed; the details are in the server log"): ErrorAnswer {
  if (err instanceof InvalidRunError) return { status: HTTP_STATUS[err.code]!, body: { error: { ...serializeError(err), issues: err.issues } } };
  if (err instanceof OrchestratorError && HTTP_STATUS[err.code]) return refusal(err.code, err.message);
  return refusal("INTERNAL", internalMessage);
}

export interface SerializedError {
  code: ErrorCode | string;
  message: string;
  stepId?: string;
}

/**
 * `instanceof` works by brand, not by class identity: the Next bundle (server actions) and server.ts load their
 * own copies of this module, and an error thrown by the runner must still be recognised by the action wrapper.
 */
const KINDS = Symbol.for("llm-orchestrator.error-kinds");

function brand(error: Error, kind: string) {
  const branded = error as Error & { [KINDS]?: string[] };
  (branded[KINDS] ??= []).push(kind);
}

export class OrchestratorError extends Error {
  static readonly kind: string = "OrchestratorError";
  readonly code: ErrorCode;
  readonly stepId?: string;
  constructor(code: ErrorCode, message: string, options?: { stepId?: string; cause?: unknown }) {
    super(message, { cause: options?.cause });
    this.name = "OrchestratorError";
    this.code = code;
    this.stepId = options?.stepId;
    brand(this, OrchestratorError.kind);
  }

  static [Symbol.hasInstance](value: unknown): boolean {
    const kinds = (value as { [KINDS]?: unknown } | null)?.[KINDS];
    return Array.isArray(kinds) && kinds.includes((this as unknown as { kind: string }).kind);
  }
}

/**
 * A failure inside one step's executor; the runner records it against that step. `retryable` marks failures a
 * step's retry policy may try again (network errors, HTTP 429 and 5xx, timeouts) — never bad input or a 4xx.
 */
export class StepError extends OrchestratorError {
  static override readonly kind = "StepError";
  readonly retryable: boolean;
  constructor(code: ErrorCode, message: string, options?: { stepId?: string; cause?: unknown; retryable?: boolean }) {
    super(code, message, options);
    this.name = "StepError";
    this.retryable = options?.retryable ?? false;
    brand(this, StepError.kind);
  }
}

/**
 * Why a run stopped executing in a process that lost its lease (it stalled past it and another process took
 * the run over): the run goes on there, so this process writes nothing more about it.
 */
export const leaseLost = (runId: string) =>
  new OrchestratorError("LEASE_LOST", `run "${runId}" was taken over by another process after this one missed its lease renewals; it goes on there`);
export const isLeaseLost = (reason: unknown) => reason instanceof OrchestratorError && reason.code === "LEASE_LOST";

/** HTTP statuses worth retrying: rate limits and server errors. */
export const isRetryableStatus = (status: number) => status === 429 || status >= 500;

/** Turns anything thrown into the one shape stored in the database and sent to users (no stack traces). */
export function serializeError(error: unknown, stepId?: string): SerializedError {
  if (error instanceof OrchestratorError) {
    return { code: error.code, message: error.message, ...(error.stepId ?? stepId ? { stepId: error.stepId ?? stepId } : {}) };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { code: stepId ? "STEP_FAILED" : "INTERNAL", message, ...(stepId ? { stepId } : {}) };
}

/** A definition or input problem, with every issue (step id / field) for the canvas and the CLI. */
export class InvalidRunError extends OrchestratorError {
  static override readonly kind = "InvalidRunError";
  constructor(
    code: "INVALID_DEFINITION" | "INVALID_INPUT",
    readonly issues: ValidationIssue[],
    /** What was refused, when it is not the definition or the run input (a callback body). */
    subject?: string,
  ) {
    const summary = subject ? `${subject} is invalid` : code === "INVALID_DEFINITION" ? "the workflow definition is invalid" : "the run input is invalid";
    super(code, `${summary}:\n${issues.map((i) => `- ${i.message}`).join("\n")}`, { stepId: issues[0]?.stepId });
    this.name = "InvalidRunError";
    brand(this, InvalidRunError.kind);
  }
}
