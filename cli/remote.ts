import { InvalidRunError, OrchestratorError, type ErrorCode } from "@/lib/engine/errors";
import type { RunStatus } from "@/lib/runner/event-types";
import type { RunResult } from "@/lib/runner/run";
import type { ValidationIssue, WorkflowDefinition } from "@/lib/workflow/schema";

/**
 * The CLI against a remote server (`--server <url> --token <token>`): the same commands through the REST API
 * (/api/v1) with fetch. Loads no runtime (no database, no LangGraph): only the pure workflow model, to check a
 * definition and its input before sending them. Refusals keep the server's code, so the CLI's exit codes are
 * those of local mode.
 */

const V1 = "/api/v1";
/** How long one `?wait=true` call waits on the server (its limit); after it the client polls. */
const WAIT_MS = 5 * 60_000;
const POLL_MS = 500;
const REQUEST_TIMEOUT_MS = 60_000;
const SETTLED: RunStatus[] = ["succeeded", "failed", "cancelled", "waiting"];

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Answer<T> {
  status: number;
  body: T;
}

type Started = { runId: string; status: RunStatus } | RunResult;

/** Codes the server's statuses stand for, when its answer has no `{ error }` (a proxy in between). */
const CODE_OF_STATUS: Record<number, ErrorCode> = { 400: "INVALID_INPUT", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND", 409: "CONFLICT", 413: "PAYLOAD_TOO_LARGE" };

export class RemoteClient {
  private readonly base: string;

  constructor(
    server: string,
    private readonly token: string,
  ) {
    this.base = server.replace(/\/+$/, "");
  }

  private async call<T>(method: string, path: string, options: { query?: Record<string, string | number | boolean | undefined>; body?: unknown; timeoutMs?: number } = {}): Promise<Answer<T>> {
    const url = new URL(`${this.base}${V1}${path}`);
    for (const [key, value] of Object.entries(options.query ?? {})) if (value !== undefined) url.searchParams.set(key, String(value));
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: { authorization: `Bearer ${this.token}`, accept: "application/json", ...(options.body !== undefined ? { "content-type": "application/json" } : {}) },
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        signal: AbortSignal.timeout(options.timeoutMs ?? REQUEST_TIMEOUT_MS),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const why = (err as Error).name === "TimeoutError" ? "no answer in time" : (cause?.code ?? cause?.message ?? (err as Error).message);
      throw new OrchestratorError("INTERNAL", `cannot reach the server ${this.base} (${why}): check --server / ORCHESTRATOR_SERVER`);
    }
    const text = await response.text();
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      throw new OrchestratorError("INTERNAL", `the server answered ${method} ${url.pathname} with ${response.status} and no JSON: is ${this.base} an orchestrator server?`);
    }
    if (response.ok) return { status: response.status, body: body as T };
    throw refusalOf(response.status, body, this.base);
  }

  /** Saves the definition as the workflow's latest version unless it already is (as local `run` does). */
  private async saveIfChanged(definition: WorkflowDefinition): Promise<void> {
    const path = `/workflows/${encodeURIComponent(definition.id)}`;
    let current: { definition: unknown } | undefined;
    try {
      current = (await this.call<{ definition: unknown }>("GET", path)).body;
    } catch (err) {
      if (!(err instanceof OrchestratorError && err.code === "NOT_FOUND")) throw err;
    }
    if (!current) await this.call("POST", "/workflows", { body: definition });
    else if (JSON.stringify(current.definition) !== JSON.stringify(definition)) await this.call("PUT", path, { body: definition });
  }

  /** `run <file>`: saves the definition if it changed, runs it with `input` and waits until it ends or waits. */
  async run(definition: WorkflowDefinition, input: unknown): Promise<RunResult> {
    await this.saveIfChanged(definition);
    return this.settle(
      await this.call<Started>("POST", `/workflows/${encodeURIComponent(definition.id)}/runs`, { query: { wait: true, timeout: WAIT_MS }, body: input, timeoutMs: WAIT_MS + REQUEST_TIMEOUT_MS }),
    );
  }

  /** `import <file>`: a new version of the workflow, or a new workflow. */
  async import(definition: WorkflowDefinition): Promise<{ workflowId: string; version: number }> {
    try {
      return (await this.call<{ workflowId: string; version: number }>("PUT", `/workflows/${encodeURIComponent(definition.id)}`, { body: definition })).body;
    } catch (err) {
      if (!(err instanceof OrchestratorError && err.code === "NOT_FOUND")) throw err;
      return (await this.call<{ workflowId: string; version: number }>("POST", "/workflows", { body: definition })).body;
    }
  }

  /** `runs`: one page of the history with the same filters (as query fields), and the next page's cursor. */
  async runs(query: Record<string, string>) {
    const { body } = await this.call<{
      runs: Array<{ runId: string; workflowId: string; status: string; trigger: string; startedAt: string | null; finishedAt: string | null; durationMs: number | null; costUsd: number | null }>;
      nextCursor: string | null;
    }>("GET", "/runs", { query });
    return body;
  }

  async resume(runId: string, options: { useLatestVersion?: boolean; checkpointId?: string }): Promise<RunResult> {
    const body = { ...(options.useLatestVersion ? { useLatestVersion: true } : {}), ...(options.checkpointId ? { checkpointId: options.checkpointId } : {}) };
    return this.settle(await this.call<Started>("POST", `/runs/${encodeURIComponent(runId)}/resume`, { query: { wait: true, timeout: WAIT_MS }, body, timeoutMs: WAIT_MS + REQUEST_TIMEOUT_MS }));
  }

  async approve(runId: string, decision: { approved: boolean; data?: unknown; comment?: string }): Promise<RunResult> {
    return this.settle(
      await this.call<Started>("POST", `/runs/${encodeURIComponent(runId)}/approve`, { query: { wait: true, timeout: WAIT_MS }, body: decision, timeoutMs: WAIT_MS + REQUEST_TIMEOUT_MS }),
    );
  }

  /** Asks for the cancel and waits (up to `timeoutMs`) until the run has stopped, as local `cancel` does. */
  async cancel(runId: string, timeoutMs = 10_000): Promise<{ runId: string; status: RunStatus }> {
    return (await this.call<{ runId: string; status: RunStatus }>("POST", `/runs/${encodeURIComponent(runId)}/cancel`, { query: { wait: true, timeout: timeoutMs } })).body;
  }

  /**
   * The result of a run just started, resumed or decided: the server's own when it settled within its wait,
   * else follows the run's events until it ends or waits, then reads its outputs.
   */
  private async settle(answer: Answer<Started>): Promise<RunResult> {
    if (answer.status === 200) return answer.body as RunResult;
    const runId = answer.body.runId;
    const path = `/runs/${encodeURIComponent(runId)}`;
    let after = 0;
    for (;;) {
      const { body } = await this.call<{ status: RunStatus; lastSeq: number; more: boolean }>("GET", `${path}/events`, { query: { after } });
      after = body.lastSeq;
      if (body.more) continue;
      if (SETTLED.includes(body.status)) break;
      await sleep(POLL_MS);
    }
    const { body: run } = await this.call<{ status: RunStatus; outputs: Record<string, unknown> | null; error: RunResult["error"] | null }>("GET", path);
    return { runId, status: run.status, outputs: run.outputs ?? {}, ...(run.error ? { error: run.error } : {}) };
  }
}

/** The server's refusal as the error local mode would throw (same code, its message, issues kept). */
function refusalOf(status: number, body: unknown, server: string): OrchestratorError {
  const error = (body as { error?: { code?: string; message?: string; issues?: ValidationIssue[] } } | undefined)?.error;
  const code = (error?.code ?? CODE_OF_STATUS[status] ?? "INTERNAL") as ErrorCode;
  let message = error?.message ?? `the server answered ${status}`;
  if (code === "UNAUTHORIZED") message = `${server}: ${message} (the CLI sends --token or ORCHESTRATOR_TOKEN)`;
  if ((code === "INVALID_DEFINITION" || code === "INVALID_INPUT") && error?.issues?.length) {
    const invalid = new InvalidRunError(code, error.issues);
    invalid.message = message;
    return invalid;
  }
  return new OrchestratorError(code, message);
}
