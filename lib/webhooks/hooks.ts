import { runResultWithin } from "@/lib/api/wait";
import { recordAudit } from "@/lib/audit/record";
import { actorById, requireWorkflowAccess } from "@/lib/auth/access";
import { createHmac, randomBytes } from "node:crypto";
import type { Db } from "@/lib/db";
import type { SqlConnection } from "@/lib/db/sql";
import { errorAnswer, InvalidRunError, OrchestratorError, refusal } from "@/lib/engine/errors";
import type { Runner } from "@/lib/runner/runner";
import { decryptSecret, encryptSecret, sameSecret, sha256 } from "@/lib/secrets";
import { WorkflowDefinitionSchema, type WorkflowDefinition } from "@/lib/workflow/schema";
import {
  claimSignature,
  idempotencyKeyStatements,
  isUniqueViolation,
  MAX_IDEMPOTENCY_KEY_LENGTH,
  REPLAY_WINDOW_S,
  runOfIdempotencyKey,
  sweepExpiredReceipts,
} from "./receipts";

/**
 * Webhook triggers: `POST /api/hooks/<workflowId>/<token>` (token in the path) or `POST /api/hooks/<workflowId>`
 * signed: `X-Orchestrator-Timestamp: <unix seconds>` and `X-Orchestrator-Signature: sha256=<hex HMAC-SHA256 of
 * "<timestamp>.<raw body>" under the workflow's secret>`. A signed request is accepted within 5 minutes of its
 * timestamp and once (a replay is 409). An optional `Idempotency-Key` returns the run the first request with it
 * started, for 24 h. The JSON body becomes the run input (checked against the workflow's input schema). The answer
 * is 202 `{ runId }`, or with `?wait=true` the run's result once it ends (202 with the run id if it is still going
 * at the time limit).
 */

export const SIGNATURE_HEADER = "x-orchestrator-signature";
export const TIMESTAMP_HEADER = "x-orchestrator-timestamp";
export const IDEMPOTENCY_HEADER = "idempotency-key";
const MAX_WAIT_MS = 5 * 60_000;

export interface HookView {
  enabled: boolean;
  waitTimeoutMs: number;
  createdAt: string;
}

/** Creates (or rotates) a workflow's trigger; the token and secret are returned this once, stored hashed/sealed. */
export async function enableHook(db: Db, userId: string, workflowId: string, options: { waitTimeoutMs?: number } = {}) {
  await requireWorkflowAccess(db, await actorById(db, userId), workflowId, "edit");
  const token = randomBytes(24).toString("base64url");
  const secret = randomBytes(32).toString("base64url");
  // Rotating keeps the workflow's other hook settings.
  const data = { enabled: true, tokenHash: sha256(token), secretSealed: encryptSecret(secret), ...(options.waitTimeoutMs ? { waitTimeoutMs: options.waitTimeoutMs } : {}) };
  const before = await db.workflowHook.findUnique({ where: { workflowId }, select: { enabled: true } });
  await db.workflowHook.upsert({ where: { workflowId }, create: { workflowId, ...data }, update: data });
  // Rotating replaces the token and secret (the old ones stop working); neither is recorded.
  const rotate = Boolean(before?.enabled);
  await recordAudit(db, {
    actorId: userId,
    action: rotate ? "webhook.rotate" : "webhook.enable",
    targetType: "webhook",
    targetId: workflowId,
    workflowId,
    summary: rotate ? `Rotated the webhook token and secret of workflow "${workflowId}" (the old ones no longer work)` : `Enabled the webhook trigger of workflow "${workflowId}"`,
    data: { rotated: rotate },
  });
  return { token, secret, path: `/api/hooks/${workflowId}/${token}` };
}

export async function disableHook(db: Db, userId: string, workflowId: string) {
  await requireWorkflowAccess(db, await actorById(db, userId), workflowId, "edit");
  const { count } = await db.workflowHook.updateMany({ where: { workflowId, enabled: true }, data: { enabled: false } });
  await recordAudit(db, {
    actorId: userId,
    action: "webhook.disable",
    targetType: "webhook",
    targetId: workflowId,
    workflowId,
    summary: `Disabled the webhook trigger of workflow "${workflowId}"${count ? "" : " (it was not enabled)"}`,
    data: { wasEnabled: count > 0 },
  });
}

export async function setHookWaitTimeout(db: Db, userId: string, workflowId: string, waitTimeoutMs: number) {
  await requireWorkflowAccess(db, await actorById(db, userId), workflowId, "edit");
  if (!Number.isInteger(waitTimeoutMs) || waitTimeoutMs < 100 || waitTimeoutMs > MAX_WAIT_MS)
    throw new OrchestratorError("INVALID_INPUT", `waitTimeoutMs must be between 100 and ${MAX_WAIT_MS} ms`);
  const before = await db.workflowHook.findUnique({ where: { workflowId }, select: { waitTimeoutMs: true } });
  await db.workflowHook.updateMany({ where: { workflowId }, data: { waitTimeoutMs } });
  await recordAudit(db, {
    actorId: userId,
    action: "webhook.settings",
    targetType: "webhook",
    targetId: workflowId,
    workflowId,
    summary: `Set the webhook wait timeout of workflow "${workflowId}" to ${waitTimeoutMs} ms${before ? ` (was ${before.waitTimeoutMs} ms)` : " (no webhook yet)"}`,
    data: { waitTimeoutMs, before: before?.waitTimeoutMs ?? null },
  });
}

export async function getHookView(db: Db, userId: string, workflowId: string): Promise<HookView | null> {
  await requireWorkflowAccess(db, await actorById(db, userId), workflowId, "view");
  const hook = await db.workflowHook.findFirst({ where: { workflowId } });
  return hook ? { enabled: hook.enabled, waitTimeoutMs: hook.waitTimeoutMs, createdAt: hook.createdAt.toISOString() } : null;
}

/** The X-Orchestrator-Signature of a request: HMAC-SHA256 of "<timestamp>.<raw body>" under the hook's secret. */
export const signRequest = (secret: string, timestamp: number | string, rawBody: string) =>
  `sha256=${createHmac("sha256", secret).update(`${timestamp}.${rawBody}`).digest("hex")}`;

/** The headers of a signed request sent now (tests, the bench, TS callers). */
export const signedHeaders = (secret: string, rawBody: string, timestamp = Math.floor(Date.now() / 1000)) => ({
  [TIMESTAMP_HEADER]: String(timestamp),
  [SIGNATURE_HEADER]: signRequest(secret, timestamp, rawBody),
});

/** The signature of the body alone, the form before timestamps: only recognised, to say how to sign now. */
const bodyOnlySignature = (secret: string, rawBody: string) => `sha256=${createHmac("sha256", secret).update(rawBody).digest("hex")}`;

const SIGNING_HELP = `X-Orchestrator-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>" under the webhook secret>, with the same <timestamp> (unix seconds, now) in X-Orchestrator-Timestamp`;

export interface HookRequest {
  workflowId: string;
  token?: string;
  signature?: string | null;
  /** X-Orchestrator-Timestamp of a signed request. */
  timestamp?: string | null;
  /** Idempotency-Key: a repeat returns the run the first request started. */
  idempotencyKey?: string | null;
  rawBody: string;
  wait?: boolean;
  /** `?timeout=<ms>` for `wait`, capped by 5 minutes; default the workflow's setting. */
  timeoutMs?: number;
}

/** An answer: the status and the JSON body (errors as `{ error: { code, message, issues? } }`, see errorAnswer). */
export interface HookResponse {
  status: number;
  body: Record<string, unknown>;
}


interface HookRow {
  enabled: boolean | number;
  tokenHash: string;
  secretSealed: string;
  waitTimeoutMs: number;
  ownerId: string;
  latestVersion: number;
  versionRowId: string | null;
  version: number | null;
}

/**
 * Saved definitions by the id of their version row (rows are never changed once written: a save adds a new
 * one), parsed once: a webhook starts the same version again and again. Bounded, oldest dropped first.
 */
const DEFINITION_CACHE_SIZE = 128;
const definitions = new Map<string, WorkflowDefinition>();

async function savedDefinition(sql: SqlConnection, versionRowId: string): Promise<WorkflowDefinition | undefined> {
  const cached = definitions.get(versionRowId);
  if (cached) return cached;
  const [row] = await sql.queryCommitted<{ definition: string }>(`SELECT "definition" FROM "WorkflowVersion" WHERE "id" = ?`, [versionRowId]);
  if (!row) return undefined;
  const definition = WorkflowDefinitionSchema.parse(JSON.parse(row.definition));
  definitions.set(versionRowId, definition);
  if (definitions.size > DEFINITION_CACHE_SIZE) definitions.delete(definitions.keys().next().value!);
  return definition;
}

/**
 * A signed request's timestamp in unix seconds, or the refusal: missing, not unix seconds, or further than the
 * replay window from the server's clock (a captured request is refused after that even if its signature were
 * forgotten).
 */
function checkTimestamp(header: string | null | undefined, nowS: number): number | HookResponse {
  if (header === undefined || header === null || header === "")
    return refusal(
      "WEBHOOK_TIMESTAMP",
      `the X-Orchestrator-Timestamp header is missing: signatures cover "<timestamp>.<body>", not the body alone; send ${SIGNING_HELP}`,
    );
  if (!/^\d{1,12}$/.test(header))
    return refusal("WEBHOOK_TIMESTAMP", `X-Orchestrator-Timestamp must be the unix time in seconds (digits only), not ${JSON.stringify(header.slice(0, 40))}`);
  const timestamp = Number(header);
  const skew = nowS - timestamp;
  if (Math.abs(skew) > REPLAY_WINDOW_S)
    return refusal(
      "WEBHOOK_TIMESTAMP",
      `X-Orchestrator-Timestamp ${timestamp} is ${Math.abs(skew)} s ${skew > 0 ? "old" : "in the future"}; it must be within ${REPLAY_WINDOW_S} s of the server's time (${nowS}): sign each request when sending it, with the current unix time (check the sender's clock), as ${SIGNING_HELP}`,
    );
  return timestamp;
}

/** Printable ASCII, 1–200 characters: the key is an id the caller makes up (a UUID, an event id). */
function checkIdempotencyKey(key: string | null | undefined): string | undefined | HookResponse {
  if (key === undefined || key === null) return undefined;
  if (key.length < 1 || key.length > MAX_IDEMPOTENCY_KEY_LENGTH || !/^[\x20-\x7e]+$/.test(key))
    return refusal("INVALID_INPUT", `the Idempotency-Key header must be 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} printable ASCII characters (e.g. a UUID or the sender's event id)`);
  return key;
}

const isAnswer = (value: unknown): value is HookResponse => typeof value === "object" && value !== null && "status" in value;

type HookDeps = { db: Db; sql: SqlConnection; runner: Runner };

/** The whole trigger, framework-free (the route handler passes the request in and the answer out). */
export async function handleHookRequest(deps: HookDeps, req: HookRequest): Promise<HookResponse> {
  // Header checks first: they need no database and tell nothing about the hook.
  const idempotencyKey = checkIdempotencyKey(req.idempotencyKey);
  if (isAnswer(idempotencyKey)) return idempotencyKey;
  let timestamp: number | undefined;
  if (req.token === undefined && req.signature) {
    const checked = checkTimestamp(req.timestamp, Math.floor(Date.now() / 1000));
    if (isAnswer(checked)) return checked;
    timestamp = checked;
  }

  // One query for the hook, its workflow's owner and the id of the latest version's row.
  const [hook] = await deps.sql.queryCommitted<HookRow>(
    `SELECT h."enabled", h."tokenHash", h."secretSealed", h."waitTimeoutMs", w."ownerId", w."latestVersion", v."id" AS "versionRowId", v."version"
     FROM "WorkflowHook" h JOIN "Workflow" w ON w."id" = h."workflowId"
     LEFT JOIN "WorkflowVersion" v ON v."workflowId" = w."id" AND v."version" = w."latestVersion"
     WHERE h."workflowId" = ?`,
    [req.workflowId],
  );
  // The same answer for a missing hook and a wrong credential: nothing to learn by probing.
  const unauthorized = refusal("UNAUTHORIZED", "unknown webhook or wrong token/signature");
  if (!hook || !hook.enabled) return unauthorized;
  if (req.token !== undefined) {
    if (!sameSecret(sha256(req.token), hook.tokenHash)) return unauthorized;
  } else if (req.signature && timestamp !== undefined) {
    const secret = decryptSecret(hook.secretSealed);
    if (!sameSecret(req.signature, signRequest(secret, req.timestamp!, req.rawBody))) {
      // Only someone holding the secret can make this one: telling them how to sign now gives nothing away.
      if (sameSecret(req.signature, bodyOnlySignature(secret, req.rawBody)))
        return refusal("UNAUTHORIZED", `X-Orchestrator-Signature is an HMAC of the body alone; sign "<timestamp>.<body>" instead: ${SIGNING_HELP}`);
      return unauthorized;
    }
  } else return unauthorized;

  let input: unknown = {};
  if (req.rawBody.trim()) {
    try {
      input = JSON.parse(req.rawBody);
    } catch (err) {
      return refusal("INVALID_INPUT", `the request body is not valid JSON: ${(err as Error).message}`);
    }
  }
  const ownerId = hook.ownerId;
  const definition = hook.versionRowId ? await savedDefinition(deps.sql, hook.versionRowId) : undefined;
  if (!definition) return refusal("NOT_FOUND", `workflow "${req.workflowId}" has no saved version`);

  // A signature is accepted once, before anything else it could reveal (an Idempotency-Key's run).
  if (timestamp !== undefined && !(await claimSignature(deps.sql, req.workflowId, req.signature!, timestamp)))
    return refusal(
      "WEBHOOK_REPLAYED",
      "this signed request was accepted before (the same X-Orchestrator-Signature); sign each request anew with the current X-Orchestrator-Timestamp, and send an Idempotency-Key to make retries return the first run",
    );
  const waitMs = Math.min(req.timeoutMs ?? Number(hook.waitTimeoutMs), MAX_WAIT_MS);
  if (idempotencyKey) {
    const earlier = await runOfIdempotencyKey(deps.sql, req.workflowId, idempotencyKey);
    if (earlier) return answerForEarlierRun(deps, earlier, req.wait, waitMs);
  }

  let runId: string;
  try {
    ({ runId } = await deps.runner.startRun({
      definition,
      input,
      ownerId,
      workflowVersion: Number(hook.version),
      source: "webhook",
      ...(idempotencyKey ? { alsoStore: (id: string) => idempotencyKeyStatements(req.workflowId, idempotencyKey, id) } : {}),
    }));
  } catch (err) {
    if (err instanceof InvalidRunError) return errorAnswer(err);
    // Another request with the same key stored its run first (concurrent requests): that run is the answer.
    if (idempotencyKey && isUniqueViolation(err)) {
      const earlier = await runOfIdempotencyKey(deps.sql, req.workflowId, idempotencyKey);
      if (earlier) return answerForEarlierRun(deps, earlier, req.wait, waitMs);
    }
    throw err;
  }
  if (idempotencyKey) sweepExpiredReceipts(deps.sql);
  if (!req.wait) return { status: 202, body: { runId, status: "queued" } };
  // Awaited here inline; in queue mode a worker executes it and its row is read until it settles or time is up.
  const result = await runResultWithin(deps, runId, waitMs);
  if (!result) return stillRunning(runId, waitMs);
  return { status: 200, body: { ...result } };
}

const stillRunning = (runId: string, waitMs: number): HookResponse => ({
  status: 202,
  body: { runId, status: "running", message: `the run is still going after ${waitMs} ms; follow it at /runs/${runId}` },
});

async function raceTimeout<T>(promise: Promise<T>, ms: number): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  const result = await Promise.race([promise, new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), ms)))]);
  clearTimeout(timer); // under load, thousands of waits a minute would otherwise each leave a timer behind
  return result;
}

const ACTIVE = ["queued", "running"];
const POLL_MS = 200;

/**
 * The answer for a repeated Idempotency-Key, shaped like the first one: 202 `{ runId, status }` (its status now),
 * or with `?wait=true` the run's result once it has ended or waits (200), else 202 after the time limit. The run
 * may execute in this process (its result is awaited) or another one (its row is read until it ends).
 */
async function answerForEarlierRun(deps: HookDeps, runId: string, wait: boolean | undefined, waitMs: number): Promise<HookResponse> {
  const readRun = async () => {
    const [row] = await deps.sql.queryCommitted<{ status: string; outputs: string | null; error: string | null }>(
      `SELECT "status", "outputs", "error" FROM "Run" WHERE "id" = ?`,
      [runId],
    );
    if (!row) throw new OrchestratorError("INTERNAL", `run "${runId}" of an Idempotency-Key does not exist`);
    return row;
  };
  let row = await readRun();
  if (!wait) return { status: 202, body: { runId, status: row.status } };
  const deadline = Date.now() + waitMs;
  if (ACTIVE.includes(row.status) && deps.runner.holds(runId)) {
    const result = await raceTimeout(deps.runner.waitForRun(runId).catch(() => null), waitMs);
    if (result) return { status: 200, body: { ...result } };
    row = await readRun();
  }
  while (ACTIVE.includes(row.status)) {
    const left = deadline - Date.now();
    if (left <= 0) return stillRunning(runId, waitMs);
    await new Promise((resolve) => setTimeout(resolve, Math.min(POLL_MS, left)));
    row = await readRun();
  }
  return {
    status: 200,
    body: { runId, status: row.status, outputs: JSON.parse(row.outputs ?? "{}"), ...(row.error ? { error: JSON.parse(row.error) } : {}) },
  };
}
