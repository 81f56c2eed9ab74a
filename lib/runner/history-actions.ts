import { actorById, requireRunAccess } from "@/lib/auth/access";
import { recordAudit } from "@/lib/audit/record";
import type { Db } from "@/lib/db";
import type { SqlConnection, SqlStatement } from "@/lib/db/sql";
import { OrchestratorError, serializeError } from "@/lib/engine/errors";
import type { RunStatus } from "@/lib/runner/event-types";
import { getWorkflow } from "@/lib/workflows/repository";
import type { Runner } from "./runner";
import { searchDeleteStatements } from "./run-search";

/**
 * What the history does to several runs at once (delete, cancel, resume) and "run again". Every run named must
 * be one the user may act on (else nothing happens: NOT_FOUND / FORBIDDEN naming the run); runs in a state the
 * action does not apply to are skipped, each with the reason.
 */

/** At most this many runs per bulk action (a page of the history holds at most 500). */
export const MAX_BULK_RUNS = 500;

export interface BulkOutcome {
  /** Runs the action was applied to. */
  done: string[];
  /** Runs left as they were, and why. */
  skipped: Array<{ runId: string; code: string; message: string }>;
}

const ENDED: RunStatus[] = ["succeeded", "failed", "cancelled"];

type Deps = { db: Db; sql: SqlConnection };

/** The runs, each checked for `control` (the same rule as cancel/resume of one run); throws for the first that fails. */
async function controllableRuns(db: Db, userId: string, runIds: string[]) {
  const ids = [...new Set(runIds)];
  if (!ids.length) throw new OrchestratorError("INVALID_INPUT", "runIds: select at least one run");
  if (ids.length > MAX_BULK_RUNS) throw new OrchestratorError("INVALID_INPUT", `runIds: at most ${MAX_BULK_RUNS} runs at once (${ids.length} selected); act on them in parts`);
  const actor = await actorById(db, userId);
  const rows = await db.run.findMany({
    where: { id: { in: ids } },
    select: { id: true, ownerId: true, workflowId: true, workflowName: true, status: true, parentStepId: true, parentRunId: true },
  });
  const byId = new Map(rows.map((row) => [row.id, row]));
  // One access check per (own run?, workflow): the same answer for every run it covers.
  const checked = new Map<string, Promise<unknown>>();
  for (const id of ids) {
    const run = byId.get(id) ?? null;
    const key = run ? `${run.ownerId === actor.id}:${run.workflowId}` : `missing:${id}`;
    if (!checked.has(key)) checked.set(key, requireRunAccess(db, actor, run, id, "control"));
    await checked.get(key);
  }
  return ids.map((id) => byId.get(id)!);
}

/**
 * Deletes ended runs with everything stored for them: step records, events, streamed chunks (cascade, and
 * explicitly), their checkpoints (the run's thread and its map threads `<runId>:…`) and search documents. Audit
 * entries stay. Runs still queued, running or waiting are skipped: cancel them first.
 */
export async function deleteRuns(deps: Deps, userId: string, runIds: string[]): Promise<BulkOutcome> {
  const runs = await controllableRuns(deps.db, userId, runIds);
  const outcome: BulkOutcome = { done: [], skipped: [] };
  for (const run of runs) {
    if (ENDED.includes(run.status as RunStatus)) outcome.done.push(run.id);
    else outcome.skipped.push({ runId: run.id, code: "CONFLICT", message: `run "${run.id}" is ${run.status}: cancel it first, then delete it` });
  }
  if (!outcome.done.length) return outcome;
  const statements: SqlStatement[] = [];
  for (let i = 0; i < outcome.done.length; i += 100) {
    const part = outcome.done.slice(i, i + 100);
    const marks = part.map(() => "?").join(", ");
    // `<runId>:` up to `<runId>;` (the next character): the run's own thread's children, without LIKE (ids hold `_`).
    const threads = part.map(() => `("threadId" = ? OR ("threadId" >= ? AND "threadId" < ?))`).join(" OR ");
    const threadParams = part.flatMap((id) => [id, `${id}:`, `${id};`]);
    for (const table of ["CheckpointWrite", "CheckpointBlob", "Checkpoint"]) statements.push({ sql: `DELETE FROM "${table}" WHERE ${threads}`, params: threadParams });
    statements.push(...searchDeleteStatements(deps.sql.dialect, part));
    for (const table of ["StreamChunk", "RunEvent", "StepRun"]) statements.push({ sql: `DELETE FROM "${table}" WHERE "runId" IN (${marks})`, params: part });
    statements.push({ sql: `DELETE FROM "Run" WHERE "id" IN (${marks})`, params: part });
  }
  await deps.sql.batch(statements);
  for (const run of runs.filter((r) => outcome.done.includes(r.id)))
    await recordAudit(deps.db, {
      actorId: userId,
      action: "run.delete",
      targetType: "run",
      targetId: run.id,
      summary: `Deleted run ${run.id} of workflow "${run.workflowName}"`,
      data: { workflowId: run.workflowId, status: run.status },
    });
  return outcome;
}

/** Cancels the runs that have not ended (each as `orchestrator cancel` would; each cancel is audited there). */
export async function cancelRuns(deps: Deps & { runner: Runner }, userId: string, runIds: string[]): Promise<BulkOutcome> {
  const runs = await controllableRuns(deps.db, userId, runIds);
  const outcome: BulkOutcome = { done: [], skipped: [] };
  for (const run of runs) {
    if (ENDED.includes(run.status as RunStatus)) {
      outcome.skipped.push({ runId: run.id, code: "CONFLICT", message: `run "${run.id}" has already ${run.status === "succeeded" ? "succeeded" : `ended ${run.status}`}` });
      continue;
    }
    try {
      await deps.runner.cancelRun(run.id, userId);
      outcome.done.push(run.id);
    } catch (err) {
      outcome.skipped.push({ runId: run.id, ...pick(err) });
    }
  }
  return outcome;
}

/** Resumes failed and cancelled runs from their failed step (each audited as `run.resume` by the runner). */
export async function resumeRuns(deps: Deps & { runner: Runner }, userId: string, runIds: string[], options: { useLatestVersion?: boolean } = {}): Promise<BulkOutcome> {
  const runs = await controllableRuns(deps.db, userId, runIds);
  const outcome: BulkOutcome = { done: [], skipped: [] };
  for (const run of runs) {
    if (run.status !== "failed" && run.status !== "cancelled") {
      outcome.skipped.push({ runId: run.id, code: "CONFLICT", message: `run "${run.id}" is ${run.status}: only failed or cancelled runs resume` });
      continue;
    }
    try {
      await deps.runner.resumeRun(run.id, userId, options);
      outcome.done.push(run.id);
    } catch (err) {
      outcome.skipped.push({ runId: run.id, ...pick(err) });
    }
  }
  return outcome;
}

const pick = (err: unknown) => {
  if (!(err instanceof OrchestratorError)) throw err;
  const { code, message } = serializeError(err);
  return { code, message };
};

/**
 * "Run again": a new run with the same input, on the definition the run ran or on the workflow's latest saved
 * version. Takes what running the workflow takes: control of the run, and for the latest version edit access.
 */
export async function runAgain(deps: Deps & { runner: Runner }, userId: string, runId: string, options: { useLatestVersion?: boolean } = {}): Promise<{ runId: string }> {
  const { db, runner } = deps;
  const [checked] = await controllableRuns(db, userId, [runId]);
  const run = await db.run.findUniqueOrThrow({ where: { id: checked.id }, select: { definition: true, input: true, workflowId: true, workflowVersion: true } });
  let definition: unknown = JSON.parse(run.definition);
  let workflowVersion = run.workflowVersion ?? undefined;
  if (options.useLatestVersion) {
    const latest = await getWorkflow(db, userId, run.workflowId);
    if (!latest) throw new OrchestratorError("NOT_FOUND", `workflow "${run.workflowId}" of run "${runId}" is not saved, so it has no latest version: run it again as it ran`);
    if (latest.access !== "edit") throw new OrchestratorError("FORBIDDEN", `you can view workflow "${run.workflowId}" but not run it: ask its owner for edit access`);
    definition = latest.definition;
    workflowVersion = latest.version;
  }
  // Its run.start entry says what it was run again from: one entry, like any run started from the web app.
  const started = await runner.startRun({
    definition,
    input: run.input === null ? undefined : JSON.parse(run.input),
    ownerId: userId,
    workflowVersion,
    source: "web",
    auditData: { rerunOf: runId, onLatestVersion: Boolean(options.useLatestVersion) },
  });
  return started;
}
