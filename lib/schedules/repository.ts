import { randomUUID } from "node:crypto";
import { z } from "zod";
import { recordAudit } from "@/lib/audit/record";
import { actorById, requireWorkflowAccess } from "@/lib/auth/access";
import type { Db } from "@/lib/db";
import { InvalidRunError, OrchestratorError } from "@/lib/engine/errors";
import { logger } from "@/lib/logger";
import { validateRunInput } from "@/lib/workflow/input";
import { WorkflowIdSchema } from "@/lib/workflow/schema";
import { getWorkflow } from "@/lib/workflows/repository";
import { handledUntil, MISSED_POLICIES, timingOf } from "./fire";
import { cronProblem, describeTiming, MAX_CRON_LENGTH, MAX_EVERY_MINUTES, MAX_TIMEZONE_LENGTH, nextFireAfter, nextFires, timezoneProblem } from "./timing";

/**
 * Schedules of workflows, scoped like everything else (lib/auth/access.ts): a user sees the schedules of the
 * workflows it can see and changes those of the workflows it may edit. A schedule runs as the user who created it.
 */

export const MAX_SCHEDULES_PER_WORKFLOW = 20;
export const MAX_SCHEDULE_NAME_LENGTH = 100;
export const MAX_SCHEDULE_INPUT_BYTES = 64 * 1024;
/** How many coming fire times a schedule's view lists. */
export const UPCOMING_FIRES = 5;

export const ScheduleIdSchema = z.string().min(1, "scheduleId: not empty").max(64, "scheduleId: at most 64 characters");

/** What a user gives for a schedule (the editor's form, the CLI): every field bounded, errors naming the field. */
export const ScheduleFieldsSchema = z
  .strictObject({
    name: z
      .string({ message: "name: text" })
      .trim()
      .min(1, "name: give the schedule a name")
      .max(MAX_SCHEDULE_NAME_LENGTH, `name: at most ${MAX_SCHEDULE_NAME_LENGTH} characters`),
    kind: z.enum(["cron", "interval"], { message: 'kind: "cron" (a cron expression in a time zone) or "interval" (every N minutes)' }),
    cron: z.string({ message: "cron: text" }).max(MAX_CRON_LENGTH, `cron: at most ${MAX_CRON_LENGTH} characters`).optional(),
    timezone: z.string({ message: "timezone: text" }).max(MAX_TIMEZONE_LENGTH, `timezone: at most ${MAX_TIMEZONE_LENGTH} characters`).optional(),
    everyMinutes: z
      .number({ message: "everyMinutes: a whole number of minutes" })
      .int("everyMinutes: a whole number of minutes")
      .min(1, "everyMinutes: at least 1")
      .max(MAX_EVERY_MINUTES, `everyMinutes: at most ${MAX_EVERY_MINUTES} (a year)`)
      .optional(),
    input: z.unknown().optional(),
    missedPolicy: z.enum(MISSED_POLICIES, { message: 'missedPolicy: "run_once" (run once for fires missed while down, the default) or "skip"' }).optional(),
  })
  .superRefine((fields, ctx) => {
    if (fields.kind === "cron") {
      const zone = fields.timezone ?? "UTC";
      const zoneProblem = timezoneProblem(zone);
      if (zoneProblem) ctx.addIssue({ code: "custom", path: ["timezone"], message: zoneProblem });
      const problem = cronProblem(fields.cron ?? "", zoneProblem ? "UTC" : zone);
      if (problem) ctx.addIssue({ code: "custom", path: ["cron"], message: problem });
    } else if (fields.everyMinutes === undefined) {
      ctx.addIssue({ code: "custom", path: ["everyMinutes"], message: `everyMinutes: give the interval in minutes (1 to ${MAX_EVERY_MINUTES})` });
    }
  });
export type ScheduleFields = z.input<typeof ScheduleFieldsSchema>;

/** Keeps queue mode's job schedulers in step with the table (lib/queue/schedules.ts); absent in one-process mode. */
export interface ScheduleSync {
  upsert(schedule: { id: string; enabled: boolean; kind: string; cron: string | null; timezone: string; everyMinutes: number | null; nextFireAt: Date | null }): Promise<void>;
  remove(scheduleId: string): Promise<void>;
}

export interface ScheduleDeps {
  db: Db;
  sync?: ScheduleSync;
  minuteMs: number;
}

type Row = NonNullable<Awaited<ReturnType<Db["schedule"]["findUnique"]>>>;

export interface ScheduleView {
  id: string;
  workflowId: string;
  name: string;
  kind: "cron" | "interval";
  cron: string | null;
  timezone: string;
  everyMinutes: number | null;
  input: unknown;
  enabled: boolean;
  missedPolicy: string;
  description: string;
  /** The coming fire times: ISO and as read in the schedule's time zone. */
  upcoming: Array<{ at: string; local: string }>;
  lastFiredAt: string | null;
  lastStatus: string | null;
  lastError: string | null;
  lastRunId: string | null;
  ownerId: string;
  ownerName: string | null;
  createdAt: string;
}

function localTime(date: Date, timezone: string): string {
  return new Intl.DateTimeFormat("en-GB", {
    timeZone: timezone,
    weekday: "short",
    day: "numeric",
    month: "short",
    year: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hourCycle: "h23",
    timeZoneName: "short",
  }).format(date);
}

export function scheduleView(row: Row & { owner?: { name: string } | null }, minuteMs: number, now = new Date()): ScheduleView {
  const timing = timingOf(row, minuteMs);
  const zone = row.kind === "cron" ? row.timezone : "UTC";
  const from = handledUntil(row) > now ? handledUntil(row) : now;
  return {
    id: row.id,
    workflowId: row.workflowId,
    name: row.name,
    kind: row.kind === "cron" ? "cron" : "interval",
    cron: row.cron,
    timezone: row.timezone,
    everyMinutes: row.everyMinutes,
    input: JSON.parse(row.input),
    enabled: row.enabled,
    missedPolicy: row.missedPolicy,
    description: describeTiming(timing),
    upcoming: row.enabled ? nextFires(timing, from, UPCOMING_FIRES).map((d) => ({ at: d.toISOString(), local: localTime(d, zone) })) : [],
    lastFiredAt: row.lastFiredAt?.toISOString() ?? null,
    lastStatus: row.lastStatus,
    lastError: row.lastError,
    lastRunId: row.lastRunId,
    ownerId: row.ownerId,
    ownerName: row.owner?.name ?? null,
    createdAt: row.createdAt.toISOString(),
  };
}

export async function listSchedules(deps: ScheduleDeps, userId: string, workflowId: string): Promise<ScheduleView[]> {
  const id = WorkflowIdSchema.parse(workflowId);
  await requireWorkflowAccess(deps.db, await actorById(deps.db, userId), id, "view");
  const rows = await deps.db.schedule.findMany({ where: { workflowId: id }, orderBy: { createdAt: "asc" }, include: { owner: { select: { name: true } } } });
  return rows.map((row) => scheduleView(row, deps.minuteMs));
}

/** The checked fields as columns; the input checked against the workflow's input schema (defaults filled in). */
async function columnsOf(deps: ScheduleDeps, userId: string, workflowId: string, raw: unknown) {
  const fields = ScheduleFieldsSchema.parse(raw);
  let inputText: string;
  try {
    inputText = JSON.stringify(fields.input ?? {});
  } catch {
    throw new OrchestratorError("INVALID_INPUT", "input: must be JSON (no cycles or BigInts)");
  }
  if (inputText === undefined || Buffer.byteLength(inputText) > MAX_SCHEDULE_INPUT_BYTES)
    throw new OrchestratorError("INVALID_INPUT", `input: at most ${MAX_SCHEDULE_INPUT_BYTES / 1024} KB of JSON`);
  const workflow = await getWorkflow(deps.db, userId, workflowId);
  if (!workflow) throw new OrchestratorError("NOT_FOUND", `workflow "${workflowId}" not found: save it before adding a schedule`);
  const checked = validateRunInput(workflow.definition, fields.input ?? {});
  if (checked.issues.length) throw new InvalidRunError("INVALID_INPUT", checked.issues);
  return {
    name: fields.name,
    kind: fields.kind,
    cron: fields.kind === "cron" ? fields.cron!.trim() : null,
    timezone: fields.kind === "cron" ? (fields.timezone ?? "UTC") : "UTC",
    everyMinutes: fields.kind === "interval" ? fields.everyMinutes! : null,
    input: JSON.stringify(checked.input),
    missedPolicy: fields.missedPolicy ?? "run_once",
  };
}

async function syncQuietly(deps: ScheduleDeps, row: Row | null, removedId?: string) {
  if (!deps.sync) return;
  try {
    if (row) await deps.sync.upsert(row);
    else if (removedId) await deps.sync.remove(removedId);
  } catch (err) {
    // Postgres holds the schedule; the workers' sync puts the job scheduler right at its next pass.
    logger.error({ err, scheduleId: row?.id ?? removedId }, "updating the schedule's job scheduler failed (Redis unreachable?); the workers' sync retries");
  }
}

export async function createSchedule(deps: ScheduleDeps, userId: string, workflowId: string, raw: unknown, now = new Date()): Promise<ScheduleView> {
  const id = WorkflowIdSchema.parse(workflowId);
  await requireWorkflowAccess(deps.db, await actorById(deps.db, userId), id, "edit");
  const columns = await columnsOf(deps, userId, id, raw);
  const row = await deps.db.$transaction(async (tx) => {
    const count = await tx.schedule.count({ where: { workflowId: id } });
    if (count >= MAX_SCHEDULES_PER_WORKFLOW)
      throw new OrchestratorError("CONFLICT", `workflow "${id}" has ${count} schedules, the most it may have (${MAX_SCHEDULES_PER_WORKFLOW}): delete one first`);
    const created = await tx.schedule.create({
      data: {
        id: `sch_${randomUUID().replace(/-/g, "").slice(0, 20)}`,
        workflowId: id,
        ownerId: userId,
        ...columns,
        activeSince: now,
        nextFireAt: nextFireAfter(timingOf(columns, deps.minuteMs), now),
      },
    });
    await recordAudit(tx, {
      actorId: userId,
      action: "schedule.create",
      targetType: "schedule",
      targetId: created.id,
      workflowId: id,
      summary: `Added schedule "${created.name}" to workflow "${id}": ${describeTiming(timingOf(created, deps.minuteMs))}`,
      data: { kind: created.kind, cron: created.cron, timezone: created.timezone, everyMinutes: created.everyMinutes, missedPolicy: created.missedPolicy },
    });
    return created;
  });
  await syncQuietly(deps, row);
  return scheduleView(row, deps.minuteMs, now);
}

/** The schedule, when the user may edit its workflow (NOT_FOUND when it cannot see it: existence is not revealed). */
async function editableSchedule(deps: ScheduleDeps, userId: string, scheduleId: string): Promise<Row> {
  const id = ScheduleIdSchema.parse(scheduleId);
  const row = await deps.db.schedule.findUnique({ where: { id } });
  const actor = await actorById(deps.db, userId);
  if (!row) throw new OrchestratorError("NOT_FOUND", `schedule "${id}" not found`);
  try {
    await requireWorkflowAccess(deps.db, actor, row.workflowId, "edit");
  } catch (err) {
    if (err instanceof OrchestratorError && err.code === "NOT_FOUND") throw new OrchestratorError("NOT_FOUND", `schedule "${id}" not found`);
    throw err;
  }
  return row;
}

export async function updateSchedule(deps: ScheduleDeps, userId: string, scheduleId: string, raw: unknown, now = new Date()): Promise<ScheduleView> {
  const before = await editableSchedule(deps, userId, scheduleId);
  const columns = await columnsOf(deps, userId, before.workflowId, raw);
  const timingChanged = columns.kind !== before.kind || columns.cron !== before.cron || columns.timezone !== before.timezone || columns.everyMinutes !== before.everyMinutes;
  const row = await deps.db.$transaction(async (tx) => {
    const updated = await tx.schedule.update({
      where: { id: before.id },
      data: {
        ...columns,
        // New timing: fire times of the old one are not owed.
        ...(timingChanged ? { activeSince: now, nextFireAt: before.enabled ? nextFireAfter(timingOf(columns, deps.minuteMs), now) : null } : {}),
      },
    });
    await recordAudit(tx, {
      actorId: userId,
      action: "schedule.update",
      targetType: "schedule",
      targetId: updated.id,
      workflowId: updated.workflowId,
      summary: `Changed schedule "${updated.name}" of workflow "${updated.workflowId}": ${describeTiming(timingOf(updated, deps.minuteMs))}`,
      data: { kind: updated.kind, cron: updated.cron, timezone: updated.timezone, everyMinutes: updated.everyMinutes, missedPolicy: updated.missedPolicy, timingChanged },
    });
    return updated;
  });
  await syncQuietly(deps, row);
  return scheduleView(row, deps.minuteMs, now);
}

/**
 * Pauses or resumes. A resumed schedule owes nothing from its pause: it becomes active again now (fire times
 * while paused are neither run nor counted as missed).
 */
export async function setScheduleEnabled(deps: ScheduleDeps, userId: string, scheduleId: string, enabled: boolean, now = new Date()): Promise<ScheduleView> {
  const before = await editableSchedule(deps, userId, scheduleId);
  const row = await deps.db.$transaction(async (tx) => {
    const updated =
      before.enabled === enabled
        ? before
        : await tx.schedule.update({
            where: { id: before.id },
            data: enabled ? { enabled, activeSince: now, nextFireAt: nextFireAfter(timingOf(before, deps.minuteMs), now) } : { enabled, nextFireAt: null },
          });
    await recordAudit(tx, {
      actorId: userId,
      action: enabled ? "schedule.resume" : "schedule.pause",
      targetType: "schedule",
      targetId: before.id,
      workflowId: before.workflowId,
      summary: `${enabled ? "Resumed" : "Paused"} schedule "${before.name}" of workflow "${before.workflowId}"${before.enabled === enabled ? ` (it was already ${enabled ? "running" : "paused"})` : ""}`,
      data: { changed: before.enabled !== enabled },
    });
    return updated;
  });
  await syncQuietly(deps, row);
  return scheduleView(row, deps.minuteMs, now);
}

export async function deleteSchedule(deps: ScheduleDeps, userId: string, scheduleId: string): Promise<{ deleted: string }> {
  const before = await editableSchedule(deps, userId, scheduleId);
  await deps.db.$transaction(async (tx) => {
    await tx.schedule.delete({ where: { id: before.id } });
    await recordAudit(tx, {
      actorId: userId,
      action: "schedule.delete",
      targetType: "schedule",
      targetId: before.id,
      workflowId: before.workflowId,
      summary: `Deleted schedule "${before.name}" of workflow "${before.workflowId}"`,
    });
  });
  await syncQuietly(deps, null, before.id);
  return { deleted: before.id };
}
