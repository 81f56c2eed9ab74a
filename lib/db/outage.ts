import { logger } from "@/lib/logger";

/**
 * Postgres briefly unreachable (a restart, a failover, a network cut): the writes and reads of running runs wait
 * for it with exponential back-off instead of failing the run, within ORCHESTRATOR_DB_RETRY_MS (default 60 s). One
 * warning per outage and one line when the database answers again, not one per statement.
 */

/** Node's socket errors and Postgres's "connection exception" / "operator intervention" classes. */
const CONNECTION_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "EHOSTUNREACH", "ENETUNREACH", "57P01", "57P02", "57P03"]);
const CONNECTION_MESSAGES = /Connection terminated|connection (?:is )?closed|Client has encountered a connection error|timeout exceeded when trying to connect|Can't reach database server|server closed the connection/i;

/** Whether `err` (or an error it wraps) says the database could not be reached, rather than that a statement failed. */
export function isConnectionError(err: unknown): boolean {
  for (let e = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && (CONNECTION_CODES.has(code) || code.startsWith("08"))) return true;
    if (e instanceof Error && CONNECTION_MESSAGES.test(e.message)) return true;
  }
  return false;
}

/** Whether the statement never reached the server (safe to retry whatever it does). */
export function neverReachedServer(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return code === "ECONNREFUSED" || code === "EHOSTUNREACH" || code === "ENETUNREACH" || (err instanceof Error && /timeout exceeded when trying to connect/i.test(err.message));
}

export interface BackOff {
  /** First wait (ms); doubled after each failure. */
  initialMs: number;
  /** Longest wait between two tries (ms). */
  maxMs: number;
  /** Give up (rethrow) once this long has passed since the first failure (ms). */
  deadlineMs: number;
}

export function dbBackOff(env: Record<string, string | undefined> = process.env): BackOff {
  const raw = Number(env.ORCHESTRATOR_DB_RETRY_MS);
  return { initialMs: 100, maxMs: 5_000, deadlineMs: Number.isFinite(raw) && raw >= 0 ? Math.min(raw, 3_600_000) : 60_000 };
}

let outageSince: number | undefined;

function noteOutage(err: unknown) {
  if (outageSince !== undefined) return;
  outageSince = Date.now();
  logger.warn({ err: err instanceof Error ? err.message : String(err) }, "Postgres is unreachable: running runs wait for it, retrying with back-off");
}

function noteRecovery() {
  if (outageSince === undefined) return;
  logger.info({ outageMs: Date.now() - outageSince }, "Postgres answers again");
  outageSince = undefined;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs `attempt` until it succeeds, retrying while `retryable(err)` holds, with exponential back-off (jittered,
 * capped at `maxMs`) until `deadlineMs` after the first failure; then, or for any other error, rethrows.
 */
export async function withDbRetry<T>(attempt: () => Promise<T>, retryable: (err: unknown) => boolean = isConnectionError, backOff: BackOff = dbBackOff()): Promise<T> {
  let wait = backOff.initialMs;
  let firstFailure: number | undefined;
  for (;;) {
    try {
      const result = await attempt();
      if (firstFailure !== undefined) noteRecovery();
      return result;
    } catch (err) {
      if (!retryable(err)) throw err;
      firstFailure ??= Date.now();
      if (Date.now() - firstFailure >= backOff.deadlineMs) throw err;
      noteOutage(err);
      await sleep(wait * (0.75 + Math.random() * 0.5));
      wait = Math.min(wait * 2, backOff.maxMs);
    }
  }
}
