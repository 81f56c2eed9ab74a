import { Command, isInterrupted, type BaseCheckpointSaver } from "@langchain/langgraph";
import type { Db } from "@/lib/db";
import type { SqlConnection } from "@/lib/db/sql";
import { compileStoredWorkflow, type EngineHooks, type StepOutputRecord } from "@/lib/engine/compile";
import { isLeaseLost, OrchestratorError, serializeError, type SerializedError } from "@/lib/engine/errors";
import type { RunStatus } from "@/lib/runner/event-types";
import { RUNTIME_SETTING_KEYS, runtimeSettingsOf } from "@/lib/settings";
import type { WorkflowDefinition } from "@/lib/workflow/schema";
import { costUsd } from "@/lib/pricing";
import { processGovernor } from "@/lib/governor";
import { readModelLimits } from "@/lib/governor/settings";
import { RunModelGates } from "@/lib/governor/run-gate";
import { resolveRunSecrets } from "@/lib/user-secrets";
import { withLogFields } from "@/lib/logger";
import { RunObserver } from "@/lib/observability/run-observer";
import { readCheckpoint, upgradeLegacyThread } from "./checkpoints";
import { runSubWorkflow } from "./child-runs";
import { lastStoredSeq, RunEventLog, type RunPublisher } from "./events";
import { searchIndexStatements } from "./run-search";

export interface RunResult {
  runId: string;
  status: RunStatus;
  outputs: Record<string, unknown>;
  error?: SerializedError;
}

export interface ExecuteDeps {
  db: Db;
  sql: SqlConnection;
  publisher: RunPublisher;
  checkpointer: BaseCheckpointSaver;
}

/** The columns of a run its execution needs (read with plain SQL: dates stay as the driver returns them). */
export interface RunRecord {
  id: string;
  ownerId: string;
  status: string;
  definition: string;
  input: string | null;
  outputs: string | null;
  error: string | null;
  lastSeq: number;
  /** When it first started (text on SQLite, a Date on Postgres), for its duration. */
  startedAt: string | Date | null;
  leaseOwner: string | null;
  cancelRequestedAt: unknown;
  resumeValue: string | null;
  parentRunId: string | null;
  parentStepId: string | null;
  workflowId: string;
  /** The run's concurrency group (lib/runner/concurrency.ts); null: no limit. */
  concurrencyKey: string | null;
  concurrencyLimit: number | null;
  /** Text on SQLite, a Date on Postgres. */
  createdAt: string | Date;
}

export async function readRunRecord(sql: SqlConnection, runId: string): Promise<RunRecord> {
  const [run] = await sql.queryCommitted<RunRecord>(
    `SELECT "id", "ownerId", "status", "definition", "input", "outputs", "error", "lastSeq", "leaseOwner", "cancelRequestedAt", "resumeValue", "parentRunId", "parentStepId", "workflowId", "startedAt",
            "concurrencyKey", "concurrencyLimit", "createdAt"
     FROM "Run" WHERE "id" = ?`,
    [runId],
  );
  if (!run) throw new OrchestratorError("NOT_FOUND", `run "${runId}" does not exist`);
  return run;
}

/**
 * Executes one queued run to its end: compiles its definition snapshot, runs the LangGraph graph with the
 * run id as thread id (checkpointed after every superstep), and records run status, step executions and the
 * event log. The only code that writes run state.
 *
 * `prepared.run` is the run's row when the caller has just read it; `prepared.fresh` says the run was created
 * by this process and never executed, so it has no checkpoint yet and its events end at the row's lastSeq.
 */
export async function executeRun(deps: ExecuteDeps, runId: string, signal?: AbortSignal, prepared: { run?: RunRecord; fresh?: boolean } = {}): Promise<RunResult> {
  // Observed (metrics, traces, log lines with the run's id: lib/observability) from start to end.
  return withLogFields({ runId }, async () => {
    const observer = new RunObserver(runId);
    let result: RunResult | undefined;
    try {
      return (result = await executeObservedRun(deps, runId, signal, prepared, observer));
    } finally {
      observer.end(result?.status, result?.error);
    }
  });
}

async function executeObservedRun(deps: ExecuteDeps, runId: string, signal: AbortSignal | undefined, prepared: { run?: RunRecord; fresh?: boolean }, observer: RunObserver): Promise<RunResult> {
  const run = prepared.run ?? (await readRunRecord(deps.sql, runId));
  const fresh = prepared.fresh === true;
  const input = run.input ? JSON.parse(run.input) : {};
  const log = new RunEventLog(deps.sql, deps.publisher, runId, fresh ? Number(run.lastSeq) : await lastStoredSeq(deps.sql, runId));

  // Settings are read for every run (one query), so a change applies to the next run in any process.
  const settings = runtimeSettingsOf(await deps.sql.queryCommitted<{ key: string; value: string }>(
    `SELECT "key", "value" FROM "Setting" WHERE "key" IN (${RUNTIME_SETTING_KEYS.map(() => "?").join(", ")})`,
    RUNTIME_SETTING_KEYS,
  ));
  // The governor's limits, read for every run like the settings (a small table, one query).
  const modelLimits = await readModelLimits(deps.sql);
  let gates: RunModelGates | undefined;
  await observer.begin(run, settings);
  const hooks: EngineHooks = observer.engineHooks({
    runId,
    signal,
    settings,
    onStepQueued: (stepId) => log.emit({ type: "step.status", stepId, status: "queued", execution: 0 }),
    onStepStart: (step, execution, renderedConfig) => {
      log.stepStarted(step, execution, renderedConfig);
      log.emit({ type: "step.status", stepId: step.id, status: "running", execution });
    },
    onStepSuccess: (step, execution, output, durationMs, attempts) => {
      log.stepFinished(step, execution, { output }, attempts);
      log.emit({ type: "step.status", stepId: step.id, status: "succeeded", execution, output, durationMs, attempts: attempts.attempts });
    },
    onStepFailure: (step, execution, error, durationMs, attempts) => {
      // Lost the lease: the process that took the run over owns this step's record now (it runs the step again).
      // A failure that ends here after this process flushed its last writes (an executor's cleanup awaits, e.g.
      // giving back its governor slot) must not overwrite that process's record.
      if (isLeaseLost(signal?.reason)) return;
      // Stopped by a cancel (not by losing the lease: then another process runs the step again).
      if (signal?.aborted && !isLeaseLost(signal.reason)) {
        const cancelled = { ...STEP_CANCELLED_ERROR, stepId: step.id };
        log.stepFinished(step, execution, { error: cancelled }, attempts, "cancelled");
        log.emit({ type: "step.status", stepId: step.id, status: "cancelled", execution, error: cancelled, durationMs, attempts: attempts.attempts });
        return;
      }
      log.stepFinished(step, execution, { error }, attempts);
      log.emit({ type: "step.status", stepId: step.id, status: "failed", execution, error, durationMs, attempts: attempts.attempts });
    },
    onStepWaiting: (step, execution, request) => {
      log.stepWaiting(step, execution, request);
      log.emit({ type: "step.status", stepId: step.id, status: "waiting", execution, output: request });
    },
    onStepRetry: (step, execution, attempt, error, delayMs) =>
      log.emit({ type: "step.retry", stepId: step.id, execution, attempt, error, delayMs }),
    onToken: (stepId, execution, text) => log.token(stepId, execution, text),
    onStepLog: (stepId, execution, level, text) => log.emit({ type: "step.log", stepId, execution, level, text }),
    onStepUsage: (stepId, execution, usage) => {
      const cost = costUsd(settings.prices ?? {}, usage.model, usage.promptTokens, usage.completionTokens);
      gates?.spent(cost);
      log.stepUsage(stepId, execution, { ...usage, costUsd: cost });
    },
    modelGate: (stepId, execution) => gates?.gate(stepId, execution),
    runWorkflow: (stepId, execution, request) => runSubWorkflow(deps, run, stepId, execution, request, signal),
  });

  const compiled = compileStoredWorkflow(run.definition, hooks, deps.checkpointer);
  const { definition } = compiled;
  gates = new RunModelGates({
    runId,
    workflowId: run.workflowId,
    sql: deps.sql,
    governor: processGovernor(),
    limits: modelLimits,
    budget: definition.budget,
    prices: settings.prices ?? {},
    onWait: (stepId, execution, info) =>
      log.emit({ type: "step.throttle", stepId, execution, state: "waiting", limit: info.label, reason: info.reason, ...(info.waitMs !== undefined ? { waitMs: info.waitMs } : {}) }),
    onResume: (stepId, execution) => log.emit({ type: "step.throttle", stepId, execution, state: "resumed" }),
  });
  // The secrets of the user the run belongs to that its definition names (one query, none when it names none);
  // read for every execution, so a secret set after a SECRET_NOT_FOUND is there when the run is resumed.
  const secretNames = compiled.secretNames();
  if (secretNames.length) hooks.secrets = await resolveRunSecrets(deps.sql, run.ownerId, secretNames);

  // Stored in order with the run's events (no round trip of its own).
  const startedAt = run.startedAt ? new Date(run.startedAt) : new Date();
  log.write({ sql: `UPDATE "Run" SET "status" = 'running', "startedAt" = COALESCE("startedAt", ?) WHERE "id" = ?`, params: [startedAt, runId] });
  log.emit({ type: "run.status", status: "running" });

  // "sync": a superstep's checkpoint (and its tasks' writes) is stored before the next superstep starts, so a
  // step never runs before the result of the one before it is durable.
  const config = { configurable: { thread_id: runId }, recursionLimit: compiled.recursionLimit, signal, durability: "sync" as const };
  let status: RunStatus = "succeeded";
  let error: SerializedError | undefined;
  let outputs: Record<string, unknown> = {};
  try {
    // A run taken over after its process died continues from its last checkpoint: steps that finished are not
    // run again, the ones in flight are (at-least-once).
    // A decision for a pending approval resumes the interrupted step with it.
    // Checkpoints of the layout before one graph node served every step are rewritten once in the current one.
    if (!fresh) await upgradeLegacyThread(run, deps.checkpointer);
    const saved = fresh ? undefined : await compiled.graph.getState(config);
    const resuming = saved?.createdAt !== undefined;
    if (resuming) await settleInterruptedSteps(deps, log, definition, compiled.recordsOf(saved!.values));
    const start = run.resumeValue ? new Command({ resume: JSON.parse(run.resumeValue) }) : resuming ? null : { input, vars: definition.vars ?? {} };
    const final = await compiled.graph.invoke(start, config);
    outputs = compiled.outputsOf(final);
    if (resuming) await settleInterruptedSteps(deps, log, definition, compiled.recordsOf(final));
    // A step that waits for a person (approval, callback, a waiting sub-workflow) ends the invocation interrupted.
    if (isInterrupted(final)) status = "waiting";
  } catch (err) {
    if (isLeaseLost(signal?.reason)) {
      // Another process owns the run now: its status, outputs and events are that process's to write.
      await log.flush();
      return { runId, status: "running", outputs, error: serializeError(signal!.reason) };
    }
    status = signal?.aborted ? "cancelled" : "failed";
    error = signal?.aborted ? CANCELLED_ERROR : serializeError(err);
    // Keep what the steps before the failure produced.
    const state = await compiled.graph.getState({ configurable: { thread_id: runId } }).catch(() => undefined);
    if (state) outputs = compiled.outputsOf(state.values as Record<string, unknown>);
  }

  log.emit({ type: "run.status", status, ...(error ? { error } : {}) });
  const finishedAt = new Date();
  // The final row in the same transaction as the last events; totals summed over the step records (earlier
  // processes' executions of a resumed run included; a fork's inherited records are its parent's calls).
  log.write({
    sql: `UPDATE "Run" SET "status" = ?, "outputs" = ?, "error" = ?, "finishedAt" = ?, "durationMs" = ?, "lastSeq" = ?,
            "leaseOwner" = NULL, "leaseExpiresAt" = NULL, "resumeValue" = NULL,
            "totalTokens" = (SELECT NULLIF(COALESCE(SUM("promptTokens"), 0) + COALESCE(SUM("completionTokens"), 0), 0) FROM "StepRun" WHERE "runId" = ? AND "inheritedFromRunId" IS NULL),
            "costUsd" = (SELECT SUM("costUsd") FROM "StepRun" WHERE "runId" = ? AND "inheritedFromRunId" IS NULL)
          WHERE "id" = ?`,
    params: [
      status,
      JSON.stringify(outputs),
      error ? JSON.stringify(error) : null,
      // A waiting run has not finished, and no process holds it: the decision resumes it wherever it is made.
      status === "waiting" ? null : finishedAt,
      status === "waiting" ? null : Math.max(0, finishedAt.getTime() - startedAt.getTime()),
      log.lastSeq,
      runId,
      runId,
      runId,
    ],
  });
  for (const statement of searchIndexStatements(deps.sql.dialect, runId)) log.write(statement);
  await log.flush();
  return { runId, status, outputs, ...(error ? { error } : {}) };
}

/**
 * Step records a crash left at `running` although the run's state holds their result: the process died after
 * the checkpoint with the step's output was stored, before the step's record was. The resumed run does not run
 * such a step again, so its record is finished here with what the state holds.
 */
async function settleInterruptedSteps(deps: ExecuteDeps, log: RunEventLog, definition: WorkflowDefinition, records: Map<string, StepOutputRecord>) {
  await log.flush();
  const stale = await deps.db.stepRun.findMany({ where: { runId: log.runId, status: "running" }, select: { stepId: true, execution: true } });
  if (!stale.length) return;
  for (const row of stale) {
    const step = definition.steps.find((s) => s.id === row.stepId);
    const record = records.get(row.stepId);
    if (!step || record?.execution !== row.execution) continue;
    // onError continue/route keep a failure as the output: it was recorded as failed.
    const error = step.onError && step.onError !== "fail" ? (record.output as { error?: SerializedError } | null)?.error : undefined;
    if (error) {
      log.stepFinished(step, row.execution, { error: { ...error, stepId: step.id } });
      log.emit({ type: "step.status", stepId: step.id, status: "failed", execution: row.execution, error });
    } else {
      log.stepFinished(step, row.execution, { output: record.output });
      log.emit({ type: "step.status", stepId: step.id, status: "succeeded", execution: row.execution, output: record.output });
    }
  }
}

/**
 * Ends a run that is not executing: it could not even start (database or settings trouble: failed), it was
 * cancelled before a process took it, or it crash-looped. Followers get the final event too.
 */
export async function endWithoutExecuting(
  deps: Pick<ExecuteDeps, "db" | "sql" | "publisher">,
  runId: string,
  status: "failed" | "cancelled",
  error: SerializedError,
  /** What the run had produced before (a crash-looped run keeps its finished steps' outputs and their cost). */
  kept: { outputs?: Record<string, unknown>; totalTokens?: number | null; costUsd?: number | null } = {},
): Promise<RunResult> {
  try {
    const log = new RunEventLog(deps.sql, deps.publisher, runId, await lastStoredSeq(deps.sql, runId));
    if (status === "cancelled") await cancelOpenSteps(deps, log);
    log.emit({ type: "run.status", status, error });
    await log.flush();
    const finishedAt = new Date();
    const { startedAt } = await deps.db.run.findUniqueOrThrow({ where: { id: runId }, select: { startedAt: true } });
    const ended = await deps.db.run.update({
      where: { id: runId },
      select: { id: true, workflowId: true, startedAt: true, createdAt: true, parentRunId: true },
      data: {
        status,
        durationMs: startedAt ? Math.max(0, finishedAt.getTime() - startedAt.getTime()) : null,
        error: JSON.stringify(error),
        ...(kept.outputs ? { outputs: JSON.stringify(kept.outputs) } : {}),
        ...(kept.totalTokens !== undefined ? { totalTokens: kept.totalTokens, costUsd: kept.costUsd ?? null } : {}),
        finishedAt,
        lastSeq: log.lastSeq,
        leaseOwner: null,
        leaseExpiresAt: null,
        queueReason: null,
      },
    });
    await deps.sql.batch(searchIndexStatements(deps.sql.dialect, runId));
    await RunObserver.endedWithoutExecution(ended, status, error);
  } catch {
    // The database itself is failing; the caller still gets the result.
  }
  return { runId, status, outputs: kept.outputs ?? {}, error };
}

/**
 * Fails a run that was taken over more often than allowed (the process executing it died each time; the run is
 * likely what kills it), without executing anything. Records of steps whose result reached the checkpoint are
 * finished with it, as a resume would; the steps still `running` were in flight when the process died last, so
 * they fail with CRASH_LOOP (a forced resume runs them again). Outputs of the steps that finished are kept.
 */
export async function endCrashLoop(deps: ExecuteDeps, runId: string, takeovers: number, limit: number): Promise<RunResult> {
  const run = await deps.db.run.findUniqueOrThrow({ where: { id: runId } });
  const log = new RunEventLog(deps.sql, deps.publisher, runId, await lastStoredSeq(deps.sql, runId));
  let outputs: Record<string, unknown> | undefined;
  try {
    const { definition } = compileStoredWorkflow(run.definition, { runId, settings: {} }, deps.checkpointer);
    const { records } = await readCheckpoint(run, deps.checkpointer);
    await settleInterruptedSteps(deps, log, definition, records);
    outputs = Object.fromEntries([...records].map(([id, record]) => [id, record.output]));
  } catch {
    // No readable state: every record left running is failed below.
  }
  await log.flush();
  const inFlight = await deps.db.stepRun.findMany({ where: { runId, status: "running" }, select: { stepId: true, stepType: true, execution: true } });
  const steps = [...new Set(inFlight.map((row) => `"${row.stepId}"`))].join(", ");
  const error: SerializedError = {
    code: "CRASH_LOOP",
    message:
      `the process executing run "${runId}" stopped ${takeovers} times (it was taken over ${takeovers - 1} times, ` +
      `the most ORCHESTRATOR_MAX_TAKEOVERS=${limit} allows), so the run is not resumed automatically: it may be what stops the process` +
      `${steps ? ` (in flight at the last stop: step ${steps})` : ""}. Force it with: orchestrator resume ${runId}`,
  };
  for (const row of inFlight) {
    const stepError = { ...error, stepId: row.stepId };
    log.stepFinished({ id: row.stepId, type: row.stepType }, row.execution, { error: stepError });
    log.emit({ type: "step.status", stepId: row.stepId, status: "failed", execution: row.execution, error: stepError });
  }
  await log.flush();
  const totals = await deps.db.stepRun.aggregate({ where: { runId, inheritedFromRunId: null }, _sum: { promptTokens: true, completionTokens: true, costUsd: true } });
  const totalTokens = (totals._sum.promptTokens ?? 0) + (totals._sum.completionTokens ?? 0) || null;
  return endWithoutExecuting(deps, runId, "failed", error, { outputs, totalTokens, costUsd: totals._sum.costUsd });
}

export const CANCELLED_ERROR: SerializedError = { code: "CANCELLED", message: "the run was cancelled" };
/** The error of a step execution its run's cancel stopped. */
export const STEP_CANCELLED_ERROR: SerializedError = { code: "CANCELLED", message: "the run was cancelled while this step was running" };

/**
 * Step records a cancelled run leaves open end `cancelled`: a pending approval or callback, and steps that were
 * in flight in a process that died (nothing executes them any more).
 */
async function cancelOpenSteps(deps: Pick<ExecuteDeps, "db">, log: RunEventLog) {
  const open = await deps.db.stepRun.findMany({
    where: { runId: log.runId, status: { in: ["running", "waiting"] } },
    select: { stepId: true, stepType: true, execution: true, status: true },
  });
  for (const row of open) {
    const error = { ...STEP_CANCELLED_ERROR, message: `the run was cancelled while this step was ${row.status}`, stepId: row.stepId };
    log.stepFinished({ id: row.stepId, type: row.stepType }, row.execution, { error }, undefined, "cancelled");
    log.emit({ type: "step.status", stepId: row.stepId, status: "cancelled", execution: row.execution, error });
  }
}
