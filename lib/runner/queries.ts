import type { Db } from "@/lib/db";
import type { SerializedError } from "@/lib/engine/errors";
import type { RunStatus } from "@/lib/runner/event-types";
import { parseEventRow } from "./events";

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
  ownerId: string,
  filter: { workflowId?: string; status?: string; limit?: number } = {},
): Promise<RunSummary[]> {
  const rows = await db.run.findMany({
    where: { ownerId, ...(filter.workflowId ? { workflowId: filter.workflowId } : {}), ...(filter.status ? { status: filter.status } : {}) },
    orderBy: [{ createdAt: "desc" }, { id: "desc" }],
    take: filter.limit ?? 100,
  });
  const resumed = await resumedRuns(db, rows.map((row) => row.id));
  return rows.map((row) => summary(row, resumed.has(row.id)));
}

export async function getRunDetail(db: Db, ownerId: string, runId: string) {
  const run = await db.run.findFirst({
    where: { id: runId, ownerId },
    include: { steps: { orderBy: [{ startedAt: "asc" }, { execution: "asc" }] } },
  });
  if (!run) return null;
  const forks = await db.run.findMany({
    where: { parentRunId: runId, ownerId },
    orderBy: { createdAt: "asc" },
    select: { id: true, status: true, parentCheckpointId: true, parentStepId: true, workflowName: true, createdAt: true },
  });
  const logRows = await db.runEvent.findMany({ where: { runId, type: "step.log" }, orderBy: { seq: "asc" } });
  const logs = new Map<string, Array<{ level: string; text: string }>>();
  for (const row of logRows) {
    const event = parseEventRow(row);
    if (event.type !== "step.log") continue;
    const key = `${event.stepId}#${event.execution}`;
    if (!logs.has(key)) logs.set(key, []);
    logs.get(key)!.push({ level: event.level, text: event.text });
  }
  const workflow = await db.workflow.findFirst({ where: { id: run.workflowId, ownerId }, select: { latestVersion: true } });
  return {
    ...summary(run, (await resumedRuns(db, [run.id])).size > 0),
    /** Set when this run is a fork: the run and checkpoint it started from. */
    parent: run.parentRunId ? { runId: run.parentRunId, checkpointId: run.parentCheckpointId, stepId: run.parentStepId } : null,
    forks: forks.filter((f) => !f.parentStepId).map((f) => ({ runId: f.id, status: f.status as RunStatus, checkpointId: f.parentCheckpointId, createdAt: f.createdAt })),
    /** Runs of sub-workflows that this run's `workflow` steps called. */
    subRuns: forks.filter((f) => f.parentStepId).map((f) => ({ runId: f.id, status: f.status as RunStatus, stepId: f.parentStepId!, workflowName: f.workflowName })),
    /** The workflow's latest saved version (null for runs of unsaved definitions), to offer resuming on it. */
    latestWorkflowVersion: workflow?.latestVersion || null,
    input: json<unknown>(run.input),
    outputs: json<Record<string, unknown>>(run.outputs),
    error: json<SerializedError>(run.error),
    definition: JSON.parse(run.definition) as unknown,
    lastSeq: run.lastSeq,
    steps: run.steps.map((s) => ({
      stepId: s.stepId,
      stepType: s.stepType,
      execution: s.execution,
      status: s.status,
      input: json<unknown>(s.input),
      output: json<unknown>(s.output),
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

/** Persisted events after `afterSeq`, in order (reconnect catch-up). */
export async function runEventsAfter(db: Db, ownerId: string, runId: string, afterSeq = 0) {
  const run = await db.run.findFirst({ where: { id: runId, ownerId }, select: { status: true } });
  if (!run) return null;
  const rows = await db.runEvent.findMany({ where: { runId, seq: { gt: afterSeq } }, orderBy: { seq: "asc" } });
  return { status: run.status as RunStatus, events: rows.map(parseEventRow) };
}
