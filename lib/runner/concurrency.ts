import type { SqlConnection } from "@/lib/db/sql";
import { InvalidRunError, StepError } from "@/lib/engine/errors";
import { ExpressionEvaluator, expressionLimits, type ExpressionLimits } from "@/lib/engine/expressions";
import type { WorkflowDefinition } from "@/lib/workflow/schema";
import { lastStoredSeq, RunEventLog, type RunPublisher } from "./events";

/**
 * Concurrency per workflow (README "Concurrency per workflow"): at most `limit` runs of a workflow with the same
 * key run at once; the rest stay queued and start first created, first started.
 *
 * The database is the truth, in every mode: a run's group (`concurrencyKey`, `concurrencyLimit`) is stored when it
 * is created, and a slot is a `running` row of the group whose lease is live. A run takes a slot with one
 * conditional update (`claimSlot`) that counts the group's running runs and the queued ones created before it, so
 * slots are claimed in creation order and a process that dies frees its runs' slots when their leases expire.
 * Runs waiting at an approval or a callback (`waiting`) hold no slot; resumed, they queue for one again.
 */

/** The evaluated key is at most this many characters (it is stored with every run and compared on every claim). */
export const MAX_CONCURRENCY_KEY_LENGTH = 200;

/** The key expression runs before the run exists: much tighter bounds than a step's expressions. */
function keyLimits(): ExpressionLimits {
  const limits = expressionLimits();
  return { ...limits, timeoutMs: Math.min(limits.timeoutMs, 500), maxBytes: Math.min(limits.maxBytes, 64 * 1024), maxItems: Math.min(limits.maxItems, 100_000) };
}

export interface ConcurrencyGroup {
  /** The key expression's value as text; "" when the workflow has no key (one limit over all its runs). */
  key: string;
  limit: number;
}

const refused = (message: string) => new InvalidRunError("INVALID_INPUT", [{ code: "INVALID_CONCURRENCY_KEY", message: `concurrency.key ${message}`, field: "concurrency.key" }]);

/**
 * The group a new run belongs to, or null when the workflow sets no concurrency. The key is evaluated with the
 * bounded expression engine against the run input and the initial vars; a key that fails, crosses a bound, is
 * missing (undefined/null) or is longer than MAX_CONCURRENCY_KEY_LENGTH refuses the run with INVALID_INPUT.
 */
export async function concurrencyGroupOf(definition: WorkflowDefinition, input: unknown): Promise<ConcurrencyGroup | null> {
  const setting = definition.concurrency;
  if (!setting) return null;
  if (!setting.key) return { key: "", limit: setting.limit };
  const shown = setting.key.length > 120 ? `${setting.key.slice(0, 120)}…` : setting.key;
  let value: unknown;
  try {
    const evaluator = new ExpressionEvaluator({ input, steps: {}, vars: definition.vars ?? {} }, { stepId: "concurrency", limits: keyLimits() });
    value = await evaluator.evaluate(setting.key, "key");
  } catch (err) {
    // The evaluator's message starts with where it was ("step … field …"): here the field itself says where.
    const why = err instanceof StepError ? err.message.replace(/^step "concurrency" field "key": /, "") : String((err as Error)?.message ?? err);
    throw refused(`"${shown}" could not be evaluated for this input: ${why}`);
  }
  if (value === undefined || value === null)
    throw refused(`"${shown}" evaluated to nothing for this input (a missing field?); give the run input that field, or change the key`);
  const text = typeof value === "string" ? value : JSON.stringify(value);
  if (text.length > MAX_CONCURRENCY_KEY_LENGTH)
    throw refused(`"${shown}" evaluated to ${text.length} characters; a key is at most ${MAX_CONCURRENCY_KEY_LENGTH} (use a field that names the group, e.g. input.customerId)`);
  return { key: text, limit: setting.limit };
}

/** Timestamps as each dialect compares them with the stored ones (Postgres `timestamp` holds UTC wall time). */
const timestamp = (sql: SqlConnection, at: Date) => (sql.dialect === "postgres" ? at.toISOString() : at);

/**
 * The group's runs that hold a slot or are ahead of the run `r` in the line: running with a live lease, or queued
 * before it (creation time, then id), not cancelled and not abandoned by a dead process.
 */
const othersOfGroup = (r: string) => `FROM "Run" o WHERE o."workflowId" = ${r}."workflowId" AND o."concurrencyKey" = ${r}."concurrencyKey" AND o."id" <> ${r}."id"`;
const RUNNING = `o."status" = 'running' AND o."leaseExpiresAt" > ?`;
const ahead = (r: string) => `o."status" = 'queued' AND o."cancelRequestedAt" IS NULL AND (o."leaseExpiresAt" IS NULL OR o."leaseExpiresAt" > ?)
  AND (o."createdAt" < ${r}."createdAt" OR (o."createdAt" = ${r}."createdAt" AND o."id" < ${r}."id"))`;

export type SlotClaim = { claimed: true } | { claimed: false; reason: string };

export interface SlotRun {
  id: string;
  workflowId: string;
  concurrencyKey: string;
  concurrencyLimit: number;
}

/**
 * Takes a slot for a run this process holds (`leaseOwner`): marks it running when fewer than `limit` runs of its
 * group are running or ahead of it in the line. Serialized per group (lib/db/sql.ts), so of two processes asking
 * for the last slot one gets it. Refused, the run stays queued with its reason stored (shown on the run page); in
 * queue mode (`handBack`) it is handed back to the queue (no lease) to wait there, not on a worker.
 */
export async function claimSlot(deps: { sql: SqlConnection; publisher: RunPublisher }, run: SlotRun, leaseOwner: string, handBack: boolean): Promise<SlotClaim> {
  const { sql } = deps;
  const now = timestamp(sql, new Date());
  const claimed = await sql.serialized<{ id: string }>(
    groupLock(run),
    `UPDATE "Run" SET "status" = 'running', "queueReason" = NULL
     WHERE "id" = ? AND "leaseOwner" = ? AND "status" IN ('queued', 'running')
       AND (SELECT COUNT(*) ${othersOfGroup(`"Run"`)} AND ((${RUNNING}) OR (${ahead(`"Run"`)}))) < "Run"."concurrencyLimit"
     RETURNING "id"`,
    [run.id, leaseOwner, now, now],
  );
  if (claimed.length) return { claimed: true };

  const [counts] = await sql.query<{ running: number | string; ahead: number | string; status: string; queueReason: string | null }>(
    `SELECT (SELECT COUNT(*) ${othersOfGroup("r")} AND ${RUNNING}) AS "running", (SELECT COUNT(*) ${othersOfGroup("r")} AND ${ahead("r")}) AS "ahead", r."status", r."queueReason"
     FROM "Run" r WHERE r."id" = ?`,
    [now, now, run.id],
  );
  const reason = slotWaitReason(run, Number(counts?.running ?? 0), Number(counts?.ahead ?? 0));
  const handed = handBack ? `, "leaseOwner" = 'queue', "leaseExpiresAt" = NULL` : "";
  const parked = await sql.query<{ id: string }>(
    `UPDATE "Run" SET "status" = 'queued', "queueReason" = ?${handed} WHERE "id" = ? AND "leaseOwner" = ? AND "status" IN ('queued', 'running') RETURNING "id"`,
    [reason, run.id, leaseOwner],
  );
  // Followers learn why the run waits the first time it does (and a run taken over that has to wait again).
  if (parked.length && (counts?.status === "running" || counts?.queueReason === null)) await announceSlotWait(deps, run.id, reason);
  return { claimed: false, reason };
}

export function slotWaitReason(run: Pick<SlotRun, "concurrencyKey" | "concurrencyLimit">, running: number, ahead: number): string {
  const key = run.concurrencyKey ? ` with concurrency key "${run.concurrencyKey}"` : "";
  const line = ahead ? `; ${ahead} queued before it` : "";
  return `waiting for a concurrency slot (${running} of ${run.concurrencyLimit} running${key}${line})`;
}

/** One lock per group: claims of different groups do not wait for each other. */
export const groupLock = (run: Pick<SlotRun, "workflowId" | "concurrencyKey">) => JSON.stringify(["concurrency", run.workflowId, run.concurrencyKey]);

/** A `run.status` queued event with the reason: the run page shows it without a reload. */
async function announceSlotWait(deps: { sql: SqlConnection; publisher: RunPublisher }, runId: string, reason: string) {
  const log = new RunEventLog(deps.sql, deps.publisher, runId, await lastStoredSeq(deps.sql, runId));
  log.emit({ type: "run.status", status: "queued", reason });
  log.write({ sql: `UPDATE "Run" SET "lastSeq" = ? WHERE "id" = ?`, params: [log.lastSeq, runId] });
  await log.flush();
}

/** The first queued runs of a group handed to the queue (queue mode): what a freed slot wakes. */
export async function firstQueuedOfGroup(sql: SqlConnection, run: SlotRun): Promise<string[]> {
  const rows = await sql.query<{ id: string }>(
    `SELECT "id" FROM "Run" WHERE "workflowId" = ? AND "concurrencyKey" = ? AND "status" = 'queued' AND "leaseOwner" = 'queue' AND "cancelRequestedAt" IS NULL
     ORDER BY "createdAt", "id" LIMIT ?`,
    [run.workflowId, run.concurrencyKey, run.concurrencyLimit],
  );
  return rows.map((row) => row.id);
}
