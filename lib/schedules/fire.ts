import type { Db } from "@/lib/db";
import type { SqlConnection } from "@/lib/db/sql";
import { InvalidRunError, OrchestratorError } from "@/lib/engine/errors";
import { logger } from "@/lib/logger";
import type { StartRunOptions } from "@/lib/runner/create-run";
import { isUniqueViolation } from "@/lib/webhooks/receipts";
import { getWorkflow } from "@/lib/workflows/repository";
import { dueFireTime, firesBetween, nextFireAfter, type ScheduleTiming } from "./timing";

/**
 * Firing a schedule: the one path both modes take. The one-process scheduler (inline.ts) and queue mode's
 * `schedules` worker (lib/queue/schedules.ts) only decide *when* to look; `fireDue` then finds the fire time owed
 * and `fireSchedule` handles it exactly once: a row in ScheduleFire keyed by (schedule, fire time), inserted in the
 * new run's own transaction, so a second delivery of the same fire (two workers, a redelivered job, a restart's
 * catch-up) creates no second run.
 *
 * Missed fires (no process could fire them: everything was down, or queue mode had no worker): fire times that
 * passed unhandled collapse into the latest one, and a fire handled more than the grace period (60 s) after its
 * time follows the schedule's policy: `run_once` (the default) starts one run for it, `skip` records it as
 * skipped and starts none. Either way the schedule continues with its next fire time after now.
 */

export type MissedPolicy = "skip" | "run_once";
export const MISSED_POLICIES = ["run_once", "skip"] as const satisfies readonly MissedPolicy[];

export interface FireDeps {
  db: Db;
  sql: SqlConnection;
  runner: { startRun(options: StartRunOptions): Promise<{ runId: string }> };
  graceMs: number;
  minuteMs: number;
}

type ScheduleRow = NonNullable<Awaited<ReturnType<Db["schedule"]["findUnique"]>>>;

export type FireOutcome =
  | { outcome: "started"; fireTime: Date; runId: string; missed: number }
  | { outcome: "skipped" | "failed"; fireTime: Date; reason: string; missed: number }
  | { outcome: "duplicate"; fireTime: Date }
  | { outcome: "inactive" | "not_due" };

export function timingOf(row: Pick<ScheduleRow, "kind" | "cron" | "timezone" | "everyMinutes">, minuteMs: number): ScheduleTiming {
  return row.kind === "cron" ? { kind: "cron", cron: row.cron ?? "", timezone: row.timezone } : { kind: "interval", everyMinutes: row.everyMinutes ?? 1, minuteMs };
}

/** Up to when a schedule's fire times are handled: its last handled fire, or when it became active (created, resumed). */
export function handledUntil(row: Pick<ScheduleRow, "lastFiredAt" | "activeSince">): Date {
  return row.lastFiredAt && row.lastFiredAt > row.activeSince ? row.lastFiredAt : row.activeSince;
}

/**
 * Handles the fire time a schedule owes at `at` (the latest passed and unhandled), if any. When another process
 * handled a fire of the schedule meanwhile (its ScheduleFire row took the same `afterTime`), the schedule is read
 * again and what is owed then is handled: a fire is neither lost nor doubled by a race.
 */
export async function fireDue(deps: FireDeps, scheduleId: string, at: Date, now = new Date()): Promise<FireOutcome> {
  let last: FireOutcome = { outcome: "not_due" };
  for (let attempt = 0; attempt < 3; attempt++) {
    const row = await deps.db.schedule.findUnique({ where: { id: scheduleId } });
    if (!row || !row.enabled) return { outcome: "inactive" };
    const fireTime = dueFireTime(timingOf(row, deps.minuteMs), handledUntil(row), at);
    if (!fireTime) {
      if (attempt === 0) await refreshNextFire(deps, row, now);
      return last.outcome === "duplicate" ? last : { outcome: "not_due" };
    }
    last = await fireSchedule(deps, scheduleId, fireTime, now, row);
    if (last.outcome !== "duplicate") return last;
  }
  return last;
}

/**
 * Handles one fire time of a schedule: starts a run of the workflow's latest version with the schedule's input,
 * as the schedule's owner (trigger `schedule`), or records why not (skipped by the missed-fire policy; failed: the
 * owner lost access, the input no longer fits the workflow's input schema). At most once per (schedule, fire time).
 */
export async function fireSchedule(deps: FireDeps, scheduleId: string, fireTime: Date, now = new Date(), loaded?: ScheduleRow): Promise<FireOutcome> {
  const row = loaded ?? (await deps.db.schedule.findUnique({ where: { id: scheduleId } }));
  if (!row || !row.enabled) return { outcome: "inactive" };
  const from = handledUntil(row);
  if (fireTime <= from) return { outcome: "duplicate", fireTime };
  const timing = timingOf(row, deps.minuteMs);
  const missed = firesBetween(timing, from, fireTime);
  const lateMs = now.getTime() - fireTime.getTime();

  let result: FireOutcome;
  if (lateMs > deps.graceMs && row.missedPolicy === "skip") {
    result = await recordFire(deps, row.id, fireTime, from, now, "skipped", `missed: handled ${Math.round(lateMs / 1000)} s after its time (no process could fire it) and the missed-fire policy is skip`, missed);
  } else {
    result = await startScheduledRun(deps, row, fireTime, from, now, missed);
  }
  if (result.outcome === "started" || result.outcome === "skipped" || result.outcome === "failed") await markFired(deps, row, result, now);
  return result;
}

async function startScheduledRun(deps: FireDeps, row: ScheduleRow, fireTime: Date, afterTime: Date, now: Date, missed: number): Promise<FireOutcome> {
  let reason: string;
  try {
    // Read as the owner, through the access layer: a share removed or a role lowered since makes the fire fail.
    const workflow = await getWorkflow(deps.db, row.ownerId, row.workflowId);
    if (!workflow) reason = `the schedule's owner can no longer see workflow "${row.workflowId}" (or it has no saved version)`;
    else if (workflow.access !== "edit") reason = `the schedule's owner can no longer run workflow "${row.workflowId}" (view access only)`;
    else {
      const { runId } = await deps.runner.startRun({
        definition: workflow.definition,
        input: JSON.parse(row.input),
        ownerId: row.ownerId,
        workflowVersion: workflow.version,
        source: "schedule",
        auditData: { scheduleId: row.id, scheduleName: row.name, fireTime: fireTime.toISOString() },
        alsoStore: (id) => [
          {
            sql: `INSERT INTO "ScheduleFire" ("scheduleId", "fireTime", "afterTime", "status", "runId", "reason", "missed", "createdAt") VALUES (?, ?, ?, 'started', ?, NULL, ?, ?)`,
            params: [row.id, fireTime, afterTime, id, missed, now],
          },
        ],
      });
      return { outcome: "started", fireTime, runId, missed };
    }
  } catch (err) {
    if (isUniqueViolation(err)) return { outcome: "duplicate", fireTime };
    if (err instanceof InvalidRunError) reason = `${err.message}: ${err.issues.map((i) => i.message).join("; ")}`.slice(0, 1000);
    else if (err instanceof OrchestratorError) reason = err.message;
    else {
      logger.error({ err, scheduleId: row.id }, "starting a scheduled run failed");
      reason = "starting the run failed on the server; the details are in the server log";
    }
  }
  return recordFire(deps, row.id, fireTime, afterTime, now, "failed", reason, missed);
}

async function recordFire(deps: FireDeps, scheduleId: string, fireTime: Date, afterTime: Date, now: Date, status: "skipped" | "failed", reason: string, missed: number): Promise<FireOutcome> {
  // No conflict target: either key (the fire time, or the fire it follows) taken by another process means it is theirs.
  const inserted = await deps.sql.query(
    `INSERT INTO "ScheduleFire" ("scheduleId", "fireTime", "afterTime", "status", "runId", "reason", "missed", "createdAt") VALUES (?, ?, ?, ?, NULL, ?, ?, ?)
     ON CONFLICT DO NOTHING RETURNING "status"`,
    [scheduleId, fireTime, afterTime, status, reason, missed, now],
  );
  if (!inserted.length) return { outcome: "duplicate", fireTime };
  if (status === "failed") logger.warn({ scheduleId, fireTime, reason }, "a schedule's fire failed");
  return { outcome: status, fireTime, reason, missed };
}

/** Fire records older than this are deleted when the schedule fires next (its last fires stay visible). */
const KEEP_FIRES_MS = 7 * 86_400_000;

async function markFired(deps: FireDeps, row: ScheduleRow, result: Exclude<FireOutcome, { outcome: "duplicate" | "inactive" | "not_due" }>, now: Date) {
  const timing = timingOf(row, deps.minuteMs);
  const after = result.fireTime > now ? result.fireTime : now;
  // Only forward: a slower process handling an older fire must not move lastFiredAt back.
  await deps.db.schedule.updateMany({
    where: { id: row.id, OR: [{ lastFiredAt: null }, { lastFiredAt: { lt: result.fireTime } }] },
    data: {
      lastFiredAt: result.fireTime,
      nextFireAt: nextFireAfter(timing, after),
      lastStatus: result.outcome,
      lastError: result.outcome === "started" ? null : result.reason,
      lastRunId: result.outcome === "started" ? result.runId : null,
    },
  });
  await deps.db.scheduleFire.deleteMany({ where: { scheduleId: row.id, fireTime: { lt: new Date(now.getTime() - KEEP_FIRES_MS) } } });
}

/** A schedule with nothing owed: its stored next fire time brought up to date (the one-process loop reads it). */
async function refreshNextFire(deps: FireDeps, row: ScheduleRow, now: Date) {
  const next = nextFireAfter(timingOf(row, deps.minuteMs), now > handledUntil(row) ? now : handledUntil(row));
  if (next?.getTime() !== row.nextFireAt?.getTime()) await deps.db.schedule.update({ where: { id: row.id }, data: { nextFireAt: next } });
}
