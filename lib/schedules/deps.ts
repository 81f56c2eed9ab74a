import type { Runtime } from "@/lib/runtime";
import { scheduleConfig } from "./config";
import type { FireDeps } from "./fire";
import type { ScheduleDeps } from "./repository";

/** What the schedule actions and the CLI work with: the database and, in queue mode, the job schedulers to keep in step. */
export function scheduleDeps(runtime: Pick<Runtime, "db" | "schedules">): ScheduleDeps {
  return { db: runtime.db, sync: runtime.schedules, minuteMs: scheduleConfig().minuteMs };
}

/** What firing a schedule needs (the one-process scheduler, queue mode's schedule worker). */
export function fireDeps(runtime: Pick<Runtime, "db" | "sql" | "runner">): FireDeps {
  const { graceMs, minuteMs } = scheduleConfig();
  return { db: runtime.db, sql: runtime.sql, runner: runtime.runner, graceMs, minuteMs };
}
