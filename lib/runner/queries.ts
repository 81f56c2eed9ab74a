import { eventForViewers, hideCallbackUrl } from "./callback-privacy";
import { actorById, requireRunAccess, runsVisibleTo, runsVisibleToSql, workflowAccess } from "@/lib/auth/access";
import { seesEverything } from "@/lib/auth/roles";
import type { Db } from "@/lib/db";
import type { SqlConnection } from "@/lib/db/sql";
import type { SerializedError } from "@/lib/engine/errors";
import type { RunStatus, StepStatus } from "@/lib/runner/event-types";
import { parseEventRow } from "./events";
import { liveRunFromRecords, type LiveRun, type LiveStep } from "./live-run";
import { decodeCursor, DEFAULT_HISTORY_LIMIT, encodeCursor, MAX_HISTORY_LIMIT, type RunListFilter } from "./run-filter";
import { checkSearchText, searchCondition } from "./run-search";

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
  /** Why a queued run has not started yet (waiting for a concurrency slot); null otherwise. */
  queueReason: string | null;
}

/** A row of the history: the summary and what the history filters on besides. */
export interface RunListItem extends RunSummary {
  /** What started it: ui, cli, api, webhook, schedule, fork or workflow (a sub-workflow's run). */
  trigger: string;
  /** How often it was resumed by hand, and the last time. */
  resumeCount: number;
  resumedAt: Date | null;
}

const json = <T>(text: string | null): T | null => (text === null ? null : (JSON.parse(text) as T));
const duration = (start: Date | null, end: Date | null) => (start && end ? end.getTime() - start.getTime() : null);

/** The columns a summary needs (never the definition, input or outputs: a page of the history stays small). */
const SUMMARY_COLUMNS = {
  id: true,
  workflowId: true,
  workflowName: true,
  workflowVersion: true,
  status: true,
  source: true,
  trigger: true,
  createdAt: true,
  startedAt: true,
  finishedAt: true,
  durationMs: true,
  costUsd: true,
  totalTokens: true,
  parentRunId: true,
  parentStepId: true,
  resumeCount: true,
  resumedAt: true,
  queueReason: true,
} as const;

type SummaryRow = Pick<Awaited<ReturnType<Db["run"]["findFirstOrThrow"]>>, keyof typeof SUMMARY_COLUMNS>;

function summary(run: SummaryRow): RunListItem {
  return {
    runId: run.id,
    workflowId: run.workflowId,
    workflowName: run.workflowName,
    workflowVersion: run.workflowVersion,
    status: run.status as RunStatus,
    source: run.source,
    trigger: run.trigger,
    createdAt: run.createdAt,
    startedAt: run.startedAt,
    finishedAt: run.finishedAt,
    durationMs: run.durationMs ?? duration(run.startedAt, run.finishedAt),
    costUsd: run.costUsd,
    totalTokens: run.totalTokens,
    forkOf: run.parentRunId && !run.parentStepId ? run.parentRunId : null,
    resumed: run.resumeCount > 0,
    resumeCount: run.resumeCount,
    resumedAt: run.resumedAt,
    queueReason: run.status === "queued" ? run.queueReason : null,
  };
}

export interface RunPage {
  runs: RunListItem[];
  /** Pass as `cursor` for the next page; null when this page is the last. */
  nextCursor: string | null;
}

/** Rows of the history's raw query: the id and what the cursor needs. */
interface PageRow {
  id: string;
}

const SORT_COLUMN = { created: "createdAt", duration: "durationMs", cost: "costUsd" } as const;

/**
 * The history: the runs the user can see, filtered, sorted and paged by keyset on (sort value, id) — stable while
 * runs are added or deleted, one index range per page. Raw SQL (the visibility subquery, FTS/trigram search,
 * row-value comparisons Prisma cannot express); the page's rows are then read by id through Prisma.
 * Runs without a duration or cost (not ended, no priced call) come after the others in either order.
 */
export async function listRuns(deps: { db: Db; sql: SqlConnection }, userId: string, filter: RunListFilter = {}): Promise<RunPage> {
  const { db, sql } = deps;
  const actor = await actorById(db, userId);
  const sort = filter.sort ?? "created";
  const order = filter.order ?? "desc";
  const limit = Math.min(Math.max(filter.limit ?? DEFAULT_HISTORY_LIMIT, 1), MAX_HISTORY_LIMIT);
  const cursor = filter.cursor ? decodeCursor(filter.cursor, sort, order) : null;
  const date = (d: Date) => (sql.dialect === "postgres" ? d.toISOString() : d);

  const where: string[] = [];
  const params: unknown[] = [];
  const add = (condition: string, ...values: unknown[]) => (where.push(condition), params.push(...values));
  const visible = runsVisibleToSql(actor, "r", sql.dialect);
  if (visible) add(visible.sql, ...visible.params);
  if (filter.workflowId) add(`r."workflowId" = ?`, filter.workflowId);
  if (filter.status) add(`r."status" = ?`, filter.status);
  if (filter.trigger === "resume") add(`r."resumeCount" > 0`);
  else if (filter.trigger) add(`r."trigger" = ?`, filter.trigger);
  if (filter.since) add(`r."createdAt" >= ?`, date(filter.since));
  if (filter.until) add(`r."createdAt" <= ?`, date(filter.until));
  if (filter.minDurationMs !== undefined) add(`r."durationMs" >= ?`, filter.minDurationMs);
  if (filter.maxDurationMs !== undefined) add(`r."durationMs" <= ?`, filter.maxDurationMs);
  if (filter.minCost !== undefined) add(`r."costUsd" >= ?`, filter.minCost);
  if (filter.maxCost !== undefined) add(`r."costUsd" <= ?`, filter.maxCost);
  if (filter.search !== undefined) {
    const search = searchCondition(sql.dialect, "r", checkSearchText(filter.search), runsVisibleToSql(actor, "v", sql.dialect));
    add(search.sql, ...search.params);
  }

  const column = `r."${SORT_COLUMN[sort]}"`;
  const dir = order === "asc" ? "ASC" : "DESC";
  const cmp = order === "asc" ? ">" : "<";
  const select = (extra: string[], extraParams: unknown[], orderBy: string, take: number) =>
    sql.query<PageRow>(
      `SELECT r."id" FROM "Run" r ${[...where, ...extra].length ? `WHERE ${[...where, ...extra].join(" AND ")}` : ""} ORDER BY ${orderBy} LIMIT ?`,
      [...params, ...extraParams, take],
    );

  let ids: string[];
  if (sort === "created") {
    const after = cursor ? [`(r."createdAt", r."id") ${cmp} (?, ?)`] : [];
    ids = (await select(after, cursor ? [date(new Date(cursor.value as string)), cursor.id] : [], `r."createdAt" ${dir}, r."id" ${dir}`, limit + 1)).map((row) => row.id);
  } else {
    // Runs with a value first (keyset on (value, id)), then those without (keyset on id).
    ids = [];
    if (!cursor || cursor.value !== null) {
      const after = cursor ? [`(${column}, r."id") ${cmp} (?, ?)`] : [];
      ids = (await select([`${column} IS NOT NULL`, ...after], cursor ? [cursor.value, cursor.id] : [], `${column} ${dir}, r."id" ${dir}`, limit + 1)).map((row) => row.id);
    }
    if (ids.length <= limit) {
      const after = cursor?.value === null ? [`r."id" ${cmp} ?`] : [];
      const rest = await select([`${column} IS NULL`, ...after], cursor?.value === null ? [cursor.id] : [], `r."id" ${dir}`, limit + 1 - ids.length);
      ids.push(...rest.map((row) => row.id));
    }
  }

  const more = ids.length > limit;
  const pageIds = ids.slice(0, limit);
  const rows = pageIds.length ? await db.run.findMany({ where: { id: { in: pageIds } }, select: SUMMARY_COLUMNS }) : [];
  const byId = new Map(rows.map((row) => [row.id, row]));
  // A run deleted between the two reads is left out.
  const runs = pageIds.flatMap((id) => (byId.has(id) ? [summary(byId.get(id)!)] : []));
  const last = pageIds.length ? byId.get(pageIds[pageIds.length - 1]) : undefined;
  const nextCursor =
    more && last
      ? encodeCursor({ sort, order, id: last.id, value: sort === "created" ? last.createdAt.toISOString() : sort === "duration" ? last.durationMs : last.costUsd })
      : null;
  return { runs, nextCursor };
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

/**
 * The steps whose model call waits in a governor line now (their last `step.throttle` is `waiting`), for a view
 * built from the stored records: those events are before the seq it follows on from. Only for an active run.
 */
async function stepThrottles(db: Db, runId: string, lastSeq: number, status: string) {
  const throttled = new Map<string, NonNullable<LiveStep["throttled"]>>();
  if (status !== "running") return throttled;
  const rows = await db.runEvent.findMany({ where: { runId, type: "step.throttle", seq: { lte: lastSeq } }, orderBy: { seq: "asc" } });
  for (const row of rows) {
    const event = parseEventRow(row);
    if (event.type !== "step.throttle") continue;
    const key = `${event.stepId}#${event.execution}`;
    if (event.state === "waiting") throttled.set(key, { ...(event.limit ? { limit: event.limit } : {}), ...(event.reason ? { reason: event.reason } : {}), ...(event.waitMs !== undefined ? { waitMs: event.waitMs } : {}) });
    else throttled.delete(key);
  }
  return throttled;
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
  const throttles = await stepThrottles(db, runId, Math.max(lastSeq, run.lastSeq), run.status);
  const canControl = access === "control";
  const shown = (output: unknown) => (canControl ? output : hideCallbackUrl(output));
  const workflowAccessOfActor = await workflowAccess(db, actor, run.workflowId);
  const workflow = workflowAccessOfActor ? await db.workflow.findFirst({ where: { id: run.workflowId }, select: { latestVersion: true } }) : null;
  return {
    ...summary(run),
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
      ...(s.status === "running" && throttles.has(`${s.stepId}#${s.execution}`) ? { throttled: throttles.get(`${s.stepId}#${s.execution}`) } : {}),
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
  const throttles = await stepThrottles(db, runId, Math.max(lastSeq, run.lastSeq), run.status);
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
      ...(s.status === "running" && throttles.has(`${s.stepId}#${s.execution}`) ? { throttled: throttles.get(`${s.stepId}#${s.execution}`) } : {}),
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
