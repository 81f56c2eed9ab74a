import { OrchestratorError } from "@/lib/engine/errors";
import { MINUTE_MS } from "./timing";

function whole(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name]?.trim();
  if (!raw) return fallback;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < min || n > max) throw new OrchestratorError("INVALID_INPUT", `${name} must be a whole number from ${min} to ${max}, not "${raw}"; unset it for the default ${fallback}`);
  return n;
}

export interface ScheduleConfig {
  /** A fire handled more than this after its time counts as missed (ORCHESTRATOR_SCHEDULE_GRACE_MS, default 60 s). */
  graceMs: number;
  /** How often the one-process scheduler looks for due schedules (ORCHESTRATOR_SCHEDULE_POLL_MS, default 1 s). */
  pollMs: number;
  /**
   * The length of an interval schedule's "minute" (ORCHESTRATOR_SCHEDULE_MINUTE_MS, default 60,000): for tests
   * only, so an every-1-minute schedule can fire every second. Cron schedules are not affected.
   */
  minuteMs: number;
}

export function scheduleConfig(): ScheduleConfig {
  return {
    graceMs: whole("ORCHESTRATOR_SCHEDULE_GRACE_MS", 60_000, 100, 86_400_000),
    pollMs: whole("ORCHESTRATOR_SCHEDULE_POLL_MS", 1_000, 50, 60_000),
    minuteMs: whole("ORCHESTRATOR_SCHEDULE_MINUTE_MS", MINUTE_MS, 100, MINUTE_MS),
  };
}
