import type { SqlConnection, SqlStatement } from "@/lib/db/sql";
import { logger } from "@/lib/logger";
import { sha256 } from "@/lib/secrets";

/**
 * What a webhook trigger remembers (table WebhookReceipt, one row per workflow and key, in the database so it
 * holds across processes and restarts): the signatures it accepted, so a captured request cannot start a second
 * run, and the Idempotency-Keys it saw with the run each started. Rows carry their expiry and are swept.
 * The token-in-path trigger without an Idempotency-Key never touches the table (the hot path).
 */

/** How far a signed request's X-Orchestrator-Timestamp may be from the server's clock, either way. */
export const REPLAY_WINDOW_S = 300;
/** How long an Idempotency-Key returns the run it started. */
export const IDEMPOTENCY_TTL_MS = 24 * 3_600_000;
export const MAX_IDEMPOTENCY_KEY_LENGTH = 200;

/**
 * Records an accepted signature; false when it was accepted before (a replay). The row outlives the window in
 * which its timestamp is accepted, so by the time it is swept the request is refused as stale anyway.
 */
export async function claimSignature(sql: SqlConnection, workflowId: string, signature: string, timestampS: number): Promise<boolean> {
  const expiresAt = new Date((timestampS + REPLAY_WINDOW_S + 60) * 1000);
  // One statement: concurrent replays race on the primary key, and exactly one of them inserts.
  const inserted = await sql.query(
    `INSERT INTO "WebhookReceipt" ("workflowId", "key", "runId", "expiresAt") VALUES (?, ?, NULL, ?) ON CONFLICT ("workflowId", "key") DO NOTHING RETURNING "key"`,
    [workflowId, `sig:${sha256(signature)}`, expiresAt],
  );
  sweepExpiredReceipts(sql);
  return inserted.length === 1;
}

const keyOf = (idempotencyKey: string) => `key:${sha256(idempotencyKey)}`;

/** The run an Idempotency-Key started, while the key is kept. */
export async function runOfIdempotencyKey(sql: SqlConnection, workflowId: string, idempotencyKey: string): Promise<string | undefined> {
  const [row] = await sql.queryCommitted<{ runId: string | null }>(
    `SELECT "runId" FROM "WebhookReceipt" WHERE "workflowId" = ? AND "key" = ? AND "expiresAt" > ?`,
    [workflowId, keyOf(idempotencyKey), new Date()],
  );
  return row?.runId ?? undefined;
}

/**
 * The statements that bind an Idempotency-Key to a new run, committed in the run's own transaction: when another
 * request took the key first, the primary key refuses this insert and no run is created (see isUniqueViolation).
 * An expired row of the same key, not swept yet, is replaced.
 */
export function idempotencyKeyStatements(workflowId: string, idempotencyKey: string, runId: string): SqlStatement[] {
  const now = new Date();
  const key = keyOf(idempotencyKey);
  return [
    { sql: `DELETE FROM "WebhookReceipt" WHERE "workflowId" = ? AND "key" = ? AND "expiresAt" <= ?`, params: [workflowId, key, now] },
    {
      sql: `INSERT INTO "WebhookReceipt" ("workflowId", "key", "runId", "expiresAt") VALUES (?, ?, ?, ?)`,
      params: [workflowId, key, runId, new Date(now.getTime() + IDEMPOTENCY_TTL_MS)],
    },
  ];
}

/** A primary-key or unique violation, from SQLite (better-sqlite3) or Postgres (pg). */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === "SQLITE_CONSTRAINT_PRIMARYKEY" || code === "SQLITE_CONSTRAINT_UNIQUE" || code === "23505";
}

/**
 * Expired rows go at most once a minute per process, after a request that wrote one (a delete of a few rows by
 * the expiry index, in the next group commit); nothing runs while no signed or keyed request comes.
 */
const SWEEP_EVERY_MS = 60_000;
let lastSweep = 0;

export function sweepExpiredReceipts(sql: SqlConnection) {
  const now = Date.now();
  if (now - lastSweep < SWEEP_EVERY_MS) return;
  lastSweep = now;
  deleteExpiredReceipts(sql).catch((err) => logger.warn({ err }, "sweeping expired webhook receipts failed"));
}

export const deleteExpiredReceipts = (sql: SqlConnection) => sql.batch([{ sql: `DELETE FROM "WebhookReceipt" WHERE "expiresAt" <= ?`, params: [new Date()] }]);
