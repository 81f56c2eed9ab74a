import type { Db } from "@/lib/db";
import type { SqlConnection } from "@/lib/db/sql";
import { requireWorkflowAccess, runsVisibleToSql } from "@/lib/auth/access";
import type { Actor } from "@/lib/auth/roles";
import { OrchestratorError } from "@/lib/engine/errors";

/**
 * The dashboards' figures (app/dashboard, app/workflows/[id]/dashboard): runs per time bucket, success rate,
 * p50/p95 duration, tokens and cost over time, the slowest and most expensive steps — over the runs the user can
 * see (lib/auth/access.ts), created in the chosen range. Everything is aggregated in SQL (buckets, percentiles with
 * window functions, step groups), so the rows read are the groups, not the runs: one statement per figure,
 * SQLite and Postgres. Durations are finishedAt − startedAt (runs not ended have none).
 */
export const RANGES = {
  "24h": { hours: 24, bucket: "hour" },
  "7d": { hours: 24 * 7, bucket: "hour" },
  "30d": { hours: 24 * 30, bucket: "day" },
} as const;
export type DashboardRange = keyof typeof RANGES;
export const DEFAULT_RANGE: DashboardRange = "24h";
/** Rows of each step table. */
const TOP_STEPS = 10;
/**
 * The step tables are computed over the latest this many runs of the range: a run has several step records, and
 * reaching each one is a lookup (~0.15 s for 5,000 runs on SQLite, the whole 30 days of 100,000 runs would be ~2 s).
 */
export const STEP_SAMPLE_RUNS = 5_000;

export function parseRange(value: string | undefined): DashboardRange {
  if (value === undefined || value === "") return DEFAULT_RANGE;
  if (Object.hasOwn(RANGES, value)) return value as DashboardRange;
  throw new OrchestratorError("INVALID_INPUT", `range: one of ${Object.keys(RANGES).join(", ")} (got "${value.slice(0, 20)}")`);
}

export interface DashboardBucket {
  /** Start of the bucket, ISO (UTC). */
  t: string;
  runs: number;
  succeeded: number;
  failed: number;
  tokens: number;
  costUsd: number;
  p50Ms: number | null;
  p95Ms: number | null;
}

export interface StepFigure {
  workflowId: string;
  stepId: string;
  stepType: string;
  executions: number;
  avgMs: number;
  maxMs: number;
  tokens: number;
  costUsd: number;
}

export interface DashboardData {
  range: DashboardRange;
  bucket: "hour" | "day";
  from: string;
  to: string;
  workflowId: string | null;
  summary: { runs: number; succeeded: number; failed: number; successRate: number | null; p50Ms: number | null; p95Ms: number | null; tokens: number; costUsd: number };
  series: DashboardBucket[];
  /** Over the latest STEP_SAMPLE_RUNS runs of the range. */
  slowestSteps: StepFigure[];
  costliestSteps: StepFigure[];
  /** Whether the step tables cover only the latest STEP_SAMPLE_RUNS runs. */
  stepsSampled: boolean;
}

/** A WHERE clause over "Run" (aliased `r`) and its parameters. */
interface Scope {
  sql: string;
  params: unknown[];
}

function dialectSql(dialect: SqlConnection["dialect"], bucket: "hour" | "day", oneWorkflow: boolean) {
  if (dialect === "postgres")
    return {
      runs: `"Run" r`,
      bucket: `to_char(date_trunc('${bucket}', r."createdAt"), ${bucket === "hour" ? `'YYYY-MM-DD"T"HH24:00:00"Z"'` : `'YYYY-MM-DD"T00:00:00Z"'`})`,
      runMs: `(EXTRACT(EPOCH FROM (r."finishedAt" - r."startedAt")) * 1000)`,
      stepMs: `(EXTRACT(EPOCH FROM (s."finishedAt" - s."startedAt")) * 1000)`,
    };
  return {
    // SQLite's planner, without statistics, prefers the owner's or workflow's index for a user's runs and then reads
    // each run's whole row (its definition included): 3 s for 57,000 runs, against ~1 s from the covering index.
    // One workflow's runs come from its own index (a few thousand rows beat scanning every run's index entry).
    runs: oneWorkflow ? `"Run" r` : `"Run" r INDEXED BY "Run_dashboard_idx"`,
    bucket: `strftime('${bucket === "hour" ? "%Y-%m-%dT%H:00:00Z" : "%Y-%m-%dT00:00:00Z"}', r."createdAt")`,
    runMs: `((julianday(r."finishedAt") - julianday(r."startedAt")) * 86400000.0)`,
    stepMs: `((julianday(s."finishedAt") - julianday(s."startedAt")) * 86400000.0)`,
  };
}

const num = (value: unknown): number => (value === null || value === undefined ? 0 : Number(value));
const numOrNull = (value: unknown): number | null => (value === null || value === undefined ? null : Math.round(Number(value)));

/**
 * The dashboard of everything the actor can see, or of one workflow (NOT_FOUND when the actor cannot see it; a
 * user who sees a workflow sees all its runs).
 */
export async function dashboardData(
  deps: { db: Db; sql: SqlConnection },
  actor: Actor,
  options: { range?: DashboardRange; workflowId?: string; now?: Date } = {},
): Promise<DashboardData> {
  const range = options.range ?? DEFAULT_RANGE;
  const { hours, bucket } = RANGES[range];
  const to = options.now ?? new Date();
  // Whole buckets: the first one starts at the top of its hour (or day, UTC).
  const first = new Date(to.getTime() - (hours - 1) * 3_600_000);
  if (bucket === "day") first.setUTCHours(0, 0, 0, 0);
  else first.setUTCMinutes(0, 0, 0);

  let scope: Scope;
  if (options.workflowId !== undefined) {
    await requireWorkflowAccess(deps.db, actor, options.workflowId, "view");
    scope = { sql: `r."workflowId" = ?`, params: [options.workflowId] };
  } else scope = runsVisibleToSql(actor, "r", deps.sql.dialect) ?? { sql: "1 = 1", params: [] };
  const where = `${scope.sql} AND r."createdAt" >= ?`;
  const params = [...scope.params, first];
  const d = dialectSql(deps.sql.dialect, bucket, options.workflowId !== undefined);
  const ended = `r."finishedAt" IS NOT NULL AND r."startedAt" IS NOT NULL`;

  const [counts, percentiles, steps] = await Promise.all([
    deps.sql.query<Record<string, unknown>>(
      `SELECT ${d.bucket} AS "t", COUNT(*) AS "runs",
              SUM(CASE WHEN r."status" = 'succeeded' THEN 1 ELSE 0 END) AS "succeeded",
              SUM(CASE WHEN r."status" = 'failed' THEN 1 ELSE 0 END) AS "failed",
              SUM(COALESCE(r."totalTokens", 0)) AS "tokens", SUM(COALESCE(r."costUsd", 0)) AS "costUsd"
       FROM ${d.runs} WHERE ${where} GROUP BY ${d.bucket}`,
      params,
    ),
    // Percentiles by nearest rank: the ⌈q·n⌉-th duration (integer division rounds down in both dialects), of each
    // bucket and of the whole range (in the one bucket whose row has that rank) — one pass over the range.
    deps.sql.query<Record<string, unknown>>(
      `SELECT "t", MAX(CASE WHEN "rn" = ("n" + 1) / 2 THEN "ms" END) AS "p50", MAX(CASE WHEN "rn" = (95 * "n" + 99) / 100 THEN "ms" END) AS "p95",
              MAX(CASE WHEN "all_rn" = ("all_n" + 1) / 2 THEN "ms" END) AS "all_p50", MAX(CASE WHEN "all_rn" = (95 * "all_n" + 99) / 100 THEN "ms" END) AS "all_p95"
       FROM (SELECT "t", "ms",
                    ROW_NUMBER() OVER (PARTITION BY "t" ORDER BY "ms") AS "rn", COUNT(*) OVER (PARTITION BY "t") AS "n",
                    ROW_NUMBER() OVER (ORDER BY "ms") AS "all_rn", COUNT(*) OVER () AS "all_n"
             FROM (SELECT ${d.bucket} AS "t", ${d.runMs} AS "ms" FROM ${d.runs} WHERE ${where} AND ${ended}) durations) ranked
       GROUP BY "t"`,
      params,
    ),
    stepFigures(deps.sql, d.runs, where, params, d.stepMs),
  ]);

  const byBucket = new Map(counts.map((row) => [String(row.t), row]));
  const pByBucket = new Map(percentiles.map((row) => [String(row.t), row]));
  const series: DashboardBucket[] = [];
  for (let t = first.getTime(); t <= to.getTime(); t += bucket === "day" ? 86_400_000 : 3_600_000) {
    const key = new Date(t).toISOString().replace(/\.\d{3}Z$/, "Z");
    const row = byBucket.get(key);
    const p = pByBucket.get(key);
    series.push({
      t: key,
      runs: num(row?.runs),
      succeeded: num(row?.succeeded),
      failed: num(row?.failed),
      tokens: num(row?.tokens),
      costUsd: num(row?.costUsd),
      p50Ms: numOrNull(p?.p50),
      p95Ms: numOrNull(p?.p95),
    });
  }
  const total = (field: "runs" | "succeeded" | "failed" | "tokens" | "costUsd") => counts.reduce((sum, row) => sum + num(row[field]), 0);
  const runs = total("runs");
  const succeeded = total("succeeded");
  const failed = total("failed");
  return {
    range,
    bucket,
    from: first.toISOString(),
    to: to.toISOString(),
    workflowId: options.workflowId ?? null,
    summary: {
      runs,
      succeeded,
      failed,
      // Of the runs that ended succeeded or failed (running, waiting and cancelled ones aside).
      successRate: succeeded + failed ? succeeded / (succeeded + failed) : null,
      p50Ms: numOrNull(percentiles.find((row) => row.all_p50 != null)?.all_p50),
      p95Ms: numOrNull(percentiles.find((row) => row.all_p95 != null)?.all_p95),
      tokens: total("tokens"),
      costUsd: total("costUsd"),
    },
    series,
    slowestSteps: steps.slowest,
    costliestSteps: steps.costliest,
    stepsSampled: runs > STEP_SAMPLE_RUNS,
  };
}

/**
 * The slowest (by average duration) and the most expensive step groups — step executions of the latest
 * STEP_SAMPLE_RUNS runs in scope by workflow and step, a fork's inherited copies left out — in one pass.
 */
async function stepFigures(sql: SqlConnection, runs: string, where: string, params: unknown[], stepMs: string): Promise<{ slowest: StepFigure[]; costliest: StepFigure[] }> {
  const rows = await sql.query<Record<string, unknown>>(
    `SELECT * FROM (
       SELECT grouped.*, ROW_NUMBER() OVER (ORDER BY "avgMs" DESC, "stepId") AS "slow_rank", ROW_NUMBER() OVER (ORDER BY "costUsd" DESC, "tokens" DESC, "stepId") AS "cost_rank"
       FROM (SELECT r."workflowId" AS "workflowId", s."stepId" AS "stepId", MIN(s."stepType") AS "stepType", COUNT(*) AS "executions",
                    AVG(${stepMs}) AS "avgMs", MAX(${stepMs}) AS "maxMs",
                    SUM(COALESCE(s."promptTokens", 0) + COALESCE(s."completionTokens", 0)) AS "tokens", SUM(COALESCE(s."costUsd", 0)) AS "costUsd"
             FROM (SELECT r."id", r."workflowId" FROM ${runs} WHERE ${where} ORDER BY r."createdAt" DESC LIMIT ${STEP_SAMPLE_RUNS}) r
             JOIN "StepRun" s ON s."runId" = r."id"
             WHERE s."finishedAt" IS NOT NULL AND s."inheritedFromRunId" IS NULL
             GROUP BY r."workflowId", s."stepId") grouped) ranked
     WHERE "slow_rank" <= ${TOP_STEPS} OR "cost_rank" <= ${TOP_STEPS}`,
    params,
  );
  const figure = (row: Record<string, unknown>): StepFigure => ({
    workflowId: String(row.workflowId),
    stepId: String(row.stepId),
    stepType: String(row.stepType),
    executions: num(row.executions),
    avgMs: Math.round(num(row.avgMs)),
    maxMs: Math.round(num(row.maxMs)),
    tokens: num(row.tokens),
    costUsd: num(row.costUsd),
  });
  const ranked = (rank: string) =>
    rows
      .filter((row) => num(row[rank]) <= TOP_STEPS)
      .sort((a, b) => num(a[rank]) - num(b[rank]))
      .map(figure);
  return { slowest: ranked("slow_rank"), costliest: ranked("cost_rank").filter((step) => step.costUsd > 0 || step.tokens > 0) };
}
