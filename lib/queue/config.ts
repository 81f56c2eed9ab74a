import { OrchestratorError } from "@/lib/engine/errors";
import { databaseUrl, isPostgresUrl } from "@/lib/db/url";

/** How runs execute: `inline` in the process that accepts them (the default), or `queue` on workers through BullMQ. */
export type ExecutionMode = "inline" | "queue";

/** EXECUTION_MODE (default inline); anything else is refused naming the variable. */
export function executionMode(): ExecutionMode {
  const raw = process.env.EXECUTION_MODE?.trim() || "inline";
  if (raw === "inline" || raw === "queue") return raw;
  throw new OrchestratorError("INVALID_INPUT", `EXECUTION_MODE must be "inline" (one process, the default) or "queue" (web + workers on Redis and Postgres), not "${raw}"`);
}

export interface QueueConfig {
  redisUrl: string;
  /** Prefix of every BullMQ key (ORCHESTRATOR_QUEUE_PREFIX, default "orchestrator"): several installs can share one Redis. */
  prefix: string;
  /** Runs one worker executes at once (WORKER_CONCURRENCY, default 10). */
  concurrency: number;
  /** How often a worker looks for runs Postgres has as queued (or orphaned) that BullMQ lacks (ORCHESTRATOR_RECONCILE_MS, default 30 s). */
  reconcileMs: number;
  /** BullMQ's job lock and stalled-job check (ORCHESTRATOR_QUEUE_LOCK_MS, default 30 s): how soon a dead worker's job is handed on. */
  lockMs: number;
}

function positiveInt(name: string, fallback: number, max: number): number {
  const raw = process.env[name]?.trim();
  if (!raw) return fallback;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < 1 || n > max) throw new OrchestratorError("INVALID_INPUT", `${name} must be a whole number from 1 to ${max}, not "${raw}"; unset it for the default ${fallback}`);
  return n;
}

/**
 * The queue-mode settings, checked at start: queue mode keeps run state in Postgres (every process reads and writes
 * the same runs) and the queue in Redis, so both URLs must be set.
 */
export function queueConfig(): QueueConfig {
  const db = databaseUrl();
  if (!isPostgresUrl(db))
    throw new OrchestratorError("INVALID_INPUT", "EXECUTION_MODE=queue needs Postgres: set DATABASE_URL=postgresql://user@host:5432/db (the embedded SQLite database serves one process only)");
  const redisUrl = process.env.REDIS_URL?.trim();
  if (!redisUrl || !/^rediss?:\/\//i.test(redisUrl))
    throw new OrchestratorError("INVALID_INPUT", `EXECUTION_MODE=queue needs Redis: set REDIS_URL=redis://host:6379${redisUrl ? ` (not "${redisUrl}")` : ""}`);
  const prefix = process.env.ORCHESTRATOR_QUEUE_PREFIX?.trim() || "orchestrator";
  if (!/^[\w.:-]{1,100}$/.test(prefix)) throw new OrchestratorError("INVALID_INPUT", `ORCHESTRATOR_QUEUE_PREFIX may hold letters, digits, "_", ".", ":" and "-" (at most 100), not "${prefix}"`);
  return {
    redisUrl,
    prefix,
    concurrency: positiveInt("WORKER_CONCURRENCY", 10, 1000),
    reconcileMs: positiveInt("ORCHESTRATOR_RECONCILE_MS", 30_000, 3_600_000),
    lockMs: positiveInt("ORCHESTRATOR_QUEUE_LOCK_MS", 30_000, 600_000),
  };
}
