import { eventForViewers, hideCallbackUrl } from "./callback-privacy";
import { actorById, requireRunAccess, runsVisibleTo, workflowAccess } from "@/lib/auth/access";
import { seesEverything } from "@/lib/auth/roles";
import type { Db } from "@/lib/db";
import type { SerializedError } from "@/lib/engine/errors";
import type { RunStatus, StepStatus } from "@/lib/runner/event-types";
import { parseEventRow } from "./events";
import { liveRunFromRecords, type LiveRun } from "./live-run";

/** Read side of runs for the history, the run page and the CLI. Every query is scoped to the owner. */

export interface RunSummary {
  runId: string;
  workflowId: string;
  workflowName: string;
  workflowVersion: number | null;
  status: RunStatus;
  source: string;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  durationMs: number | null;
  costUsd: number | null;
  totalTokens: number | null;
  /** A fork: the run it was forked from (sub-workflow runs are not forks). */
  forkOf: string | null;
  /** Resumed by hand (from its failed step or from a checkpoint) at least once. */
  resumed: boolean;
}

const json = <T>(text: string | null): T | null => (text === null ? null : (JSON.parse(text) as T));
const duration = (start: Date | null, end: Date | null) => (start && end ? end.getTime() - start.getTime() : null);

type RunRow = Awaited<ReturnType<Db["run"]["findFirstOrThrow"]>>;

function summary(run: RunRow, resumed = false): RunSummary {
  return {
    runId: run.id,
    workflowId: run.workflowId,
    workflowName: run.workflowName,
    workflowVersion: run.workflowVersion,
    status: run.status as RunStatus,
    source: run.source,
    createdAt: run.createdAt,
    startedAt: run.startedAt,
    finishedAt: run.finishedAt,
    durationMs: duration(run.startedAt, run.finishedAt),
    costUsd: run.costUsd,
    totalTokens: run.totalTokens,
    forkOf: run.parentRunId && !run.parentStepId ? run.parentRunId : null,
    resumed,
  };
}

/** Resuming keeps the run's id and row: the audit log is where a resume by hand (run.resume, run.rewind) is kept. */
const RESUME_ACTIONS = ["run.resume", "run.rewind"];

async function resumedRuns(db: Db, runIds: string[]): Promise<Set<string>> {
  if (!runIds.length) return new Set();
  const rows = await db.auditLog.findMany({
    where: { targetType: "run", targetId: { in: runIds }, action: { in: RESUME_ACTIONS } },
    select: { targetId: true },
    distinct: ["targetId"],
  });
  return new Set(rows.map((row) => row.targetId));
}

export async function listRuns(
  db: Db,
  userId: string,
  filter: { workflowId?: string; status?: string; limit?: number } = {},
): Promise<RunSummary[]> {
  const visible = await runsVisibleTo(db, await actorById(db, userId));
  const rows = await db.run.findMany({
    where: { AND: [visible, { ...(filter.workflowId ? { workflowId: filter.workflowId } : {}), ...(filter.status ? { status: filter.status } : {}) }] },
    orderBy: [{ createdAt: "desc" }, { id: "desc" }],
    take: filter.limit ?? 100,
  });
  const resumed = await resumedRuns(db, rows.map((row) => row.id));
  return rows.map((row) => summary(row, resumed.has(row.id)));
}

/**
 * The last stored seq of a run, read before its step records and logs: those are then at least as new, so a view
 * built from them and following the events after this seq misses nothing (the run row's lastSeq lags while the
 * run executes).
 */
async function lastSeqOf(db: Db, runId: string): Promise<number> {
  const { _max } = await db.runEvent.aggregate({ where: { runId }, _max: { seq: true } });
  return _max.seq ?? 0;
}

/** Log lines of a run's step executions up to `lastSeq`, by `stepId#execution`. */
async function stepLogs(db: Db, runId: string, lastSeq: number) {
  const logRows = await db.runEvent.findMany({ where: { runId, type: "step.log", seq: { lte: lastSeq } }, orderBy: { seq: "asc" } });
  const logs = new Map<string, Array<{ level: string; text: string }>>();
  for (const row of logRows) {
    const event = parseEventRow(row);
    if (event.type !== "step.log") continue;
    const key = `${event.stepId}#${event.execution}`;
    if (!logs.has(key)) logs.set(key, []);
    logs.get(key)!.push({ level: event.level, text: event.text });
  }
  return logs;
}

/** What the user may do with a run: act on it, only look, or nothing (also when it does not exist). */
export async function runAccessOf(db: Db, userId: string, runId: string): Promise<"control" | "view" | null> {
  const run = await db.run.findUnique({ where: { id: runId }, select: { ownerId: true, workflowId: true } });
  if (!run) return null;
  const actor = await actorById(db, userId);
  for (const need of ["control", "view"] as const) if (await requireRunAccess(db, actor, run, runId, need).then(() => true, () => false)) return need;
  return null;
}

export async function getRunDetail(db: Db, userId: string, runId: string) {
  const access = await runAccessOf(db, userId, runId);
  if (!access) return null;
  const actor = await actorById(db, userId);
  const lastSeq = await lastSeqOf(db, runId);
  const run = await db.run.findFirst({
    where: { id: runId },
    include: { steps: { orderBy: [{ startedAt: "asc" }, { execution: "asc" }] } },
  });
  if (!run) return null;
  const forks = await db.run.findMany({
    where: { AND: [{ parentRunId: runId }, await runsVisibleTo(db, actor)] },
    orderBy: { createdAt: "asc" },
    select: { id: true, status: true, parentCheckpointId: true, parentStepId: true, workflowName: true, createdAt: true },
  });
  const logs = await stepLogs(db, runId, lastSeq);
  const canControl = access === "control";
  const shown = (output: unknown) => (canControl ? output : hideCallbackUrl(output));
  const workflowAccessOfActor = await workflowAccess(db, actor, run.workflowId);
  const workflow = workflowAccessOfActor ? await db.workflow.findFirst({ where: { id: run.workflowId }, select: { latestVersion: true } }) : null;
  return {
    ...summary(run, (await resumedRuns(db, [run.id])).size > 0),
    /** Set when this run is a fork: the run and checkpoint it started from. */
    parent: run.parentRunId ? { runId: run.parentRunId, checkpointId: run.parentCheckpointId, stepId: run.parentStepId } : null,
    forks: forks.filter((f) => !f.parentStepId).map((f) => ({ runId: f.id, status: f.status as RunStatus, checkpointId: f.parentCheckpointId, createdAt: f.createdAt })),
    /** Runs of sub-workflows that this run's `workflow` steps called. */
    subRuns: forks.filter((f) => f.parentStepId).map((f) => ({ runId: f.id, status: f.status as RunStatus, stepId: f.parentStepId!, workflowName: f.workflowName })),
    /** The workflow's latest saved version (null for runs of unsaved definitions), to offer resuming on it. */
    latestWorkflowVersion: workflow?.latestVersion || null,
    /** Whether the user may act on the run (cancel, resume, approve, fork) or only look. */
    canControl,
    input: json<unknown>(run.input),
    outputs: json<Record<string, unknown>>(run.outputs),
    error: json<SerializedError>(run.error),
    definition: JSON.parse(run.definition) as unknown,
    /** The last event the step records include: a live view follows the events after it. */
    lastSeq: Math.max(lastSeq, run.lastSeq),
    steps: run.steps.map((s) => ({
      stepId: s.stepId,
      stepType: s.stepType,
      execution: s.execution,
      status: s.status as StepStatus,
      input: json<unknown>(s.input),
      output: shown(json<unknown>(s.output)),
      error: json<SerializedError>(s.error),
      attempts: s.attempts,
      attemptErrors: json<Array<SerializedError & { attempt: number }>>(s.attemptErrors) ?? [],
      logs: logs.get(`${s.stepId}#${s.execution}`) ?? [],
      tokens: s.promptTokens === null ? null : { prompt: s.promptTokens, completion: s.completionTokens ?? 0 },
      costUsd: s.costUsd,
      /** A fork's copy of an execution made by this run (its parent or an earlier ancestor), not counted here. */
      inheritedFrom: s.inheritedFromRunId,
      startedAt: s.startedAt,
      finishedAt: s.finishedAt,
      durationMs: duration(s.startedAt, s.finishedAt),
    })),
  };
}

export type RunDetail = NonNullable<Awaited<ReturnType<typeof getRunDetail>>>;

/**
 * Persisted events after `afterSeq`, in order (reconnect catch-up); with `limit`, at most that many and whether
 * more follow (the REST API pages through a long log). Users who may only view the run get callback URLs hidden.
 */
export async function runEventsAfter(db: Db, userId: string, runId: string, afterSeq = 0, limit?: number) {
  const access = await runAccessOf(db, userId, runId);
  if (!access) return null;
  const run = await db.run.findUnique({ where: { id: runId }, select: { status: true } });
  if (!run) return null;
  const rows = await db.runEvent.findMany({ where: { runId, seq: { gt: afterSeq } }, orderBy: { seq: "asc" }, ...(limit ? { take: limit + 1 } : {}) });
  const more = limit !== undefined && rows.length > limit;
  const events = (more ? rows.slice(0, limit) : rows).map(parseEventRow);
  return { status: run.status as RunStatus, events: access === "control" ? events : events.map(eventForViewers), more, canControl: access === "control" };
}

const ACTIVE_STATUSES: RunStatus[] = ["queued", "running", "waiting"];

/**
 * The live state of a run from what is stored (the latest execution of each step, with its logs) and the last seq
 * it includes, for a view that then follows the events after it.
 */
export async function storedLiveRun(db: Db, userId: string, runId: string): Promise<LiveRun | null> {
  const access = await runAccessOf(db, userId, runId);
  if (!access) return null;
  const lastSeq = await lastSeqOf(db, runId);
  const run = await db.run.findFirst({
    where: { id: runId },
    select: { id: true, status: true, error: true, lastSeq: true, steps: { orderBy: [{ startedAt: "asc" }, { execution: "asc" }] } },
  });
  if (!run) return null;
  const logs = await stepLogs(db, runId, lastSeq);
  return liveRunFromRecords({
    runId: run.id,
    status: run.status as RunStatus,
    lastSeq: Math.max(lastSeq, run.lastSeq),
    error: json<SerializedError>(run.error),
    steps: run.steps.map((s) => ({
      stepId: s.stepId,
      execution: s.execution,
      status: s.status,
      output: access === "control" ? json<unknown>(s.output) : hideCallbackUrl(json<unknown>(s.output)),
      error: json<SerializedError>(s.error),
      logs: logs.get(`${s.stepId}#${s.execution}`),
    })),
  });
}

/** The id of a workflow's latest run that has not ended (queued, running or waiting), whoever started it. */
export async function activeRunId(db: Db, userId: string, workflowId: string): Promise<string | null> {
  const actor = await actorById(db, userId);
  // A saved workflow: any run of it, for those who can see it. An unsaved id: the runs the user can see.
  const saved = await db.workflow.findUnique({ where: { id: workflowId }, select: { id: true } });
  if (saved && !(await workflowAccess(db, actor, workflowId))) return null;
  const run = await db.run.findFirst({
    where: { workflowId, status: { in: ACTIVE_STATUSES }, ...(saved || seesEverything(actor.role) ? {} : { ownerId: actor.id }) },
    orderBy: [{ createdAt: "desc" }, { id: "desc" }],
    select: { id: true },
  });
  return run?.id ?? null;
}

/** The live state of a workflow's active run (see `activeRunId`), for an editor opened while it goes on. */
export async function activeLiveRun(db: Db, userId: string, workflowId: string): Promise<LiveRun | null> {
  const runId = await activeRunId(db, userId, workflowId);
  return runId ? storedLiveRun(db, userId, runId) : null;
}
