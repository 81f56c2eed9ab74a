import { actorById, requireWorkflowAccess } from "@/lib/auth/access";
import { createHmac, randomBytes } from "node:crypto";
import type { Db } from "@/lib/db";
import type { SqlConnection } from "@/lib/db/sql";
import { errorAnswer, InvalidRunError, OrchestratorError, refusal } from "@/lib/engine/errors";
import type { Runner } from "@/lib/runner/runner";
import { decryptSecret, encryptSecret, sameSecret, sha256 } from "@/lib/secrets";
import { WorkflowDefinitionSchema, type WorkflowDefinition } from "@/lib/workflow/schema";

/**
 * Webhook triggers: `POST /api/hooks/<workflowId>/<token>` (token in the path) or `POST /api/hooks/<workflowId>`
 * with `X-Orchestrator-Signature: sha256=<hex HMAC-SHA256 of the raw body under the workflow's secret>`. The JSON
 * body becomes the run input (checked against the workflow's input schema). The answer is 202 `{ runId }`, or
 * with `?wait=true` the run's result once it ends (202 with the run id if it is still going at the time limit).
 */

export const SIGNATURE_HEADER = "x-orchestrator-signature";
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
  await db.workflowHook.upsert({ where: { workflowId }, create: { workflowId, ...data }, update: data });
  return { token, secret, path: `/api/hooks/${workflowId}/${token}` };
}

export async function disableHook(db: Db, userId: string, workflowId: string) {
  await requireWorkflowAccess(db, await actorById(db, userId), workflowId, "edit");
  await db.workflowHook.updateMany({ where: { workflowId }, data: { enabled: false } });
}

export async function setHookWaitTimeout(db: Db, userId: string, workflowId: string, waitTimeoutMs: number) {
  await requireWorkflowAccess(db, await actorById(db, userId), workflowId, "edit");
  if (!Number.isInteger(waitTimeoutMs) || waitTimeoutMs < 100 || waitTimeoutMs > MAX_WAIT_MS)
    throw new OrchestratorError("INVALID_INPUT", `waitTimeoutMs must be between 100 and ${MAX_WAIT_MS} ms`);
  await db.workflowHook.updateMany({ where: { workflowId }, data: { waitTimeoutMs } });
}

export async function getHookView(db: Db, userId: string, workflowId: string): Promise<HookView | null> {
  await requireWorkflowAccess(db, await actorById(db, userId), workflowId, "view");
  const hook = await db.workflowHook.findFirst({ where: { workflowId } });
  return hook ? { enabled: hook.enabled, waitTimeoutMs: hook.waitTimeoutMs, createdAt: hook.createdAt.toISOString() } : null;
}

export const signBody = (secret: string, rawBody: string) => `sha256=${createHmac("sha256", secret).update(rawBody).digest("hex")}`;

export interface HookRequest {
  workflowId: string;
  token?: string;
  signature?: string | null;
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

/** The whole trigger, framework-free (the route handler passes the request in and the answer out). */
export async function handleHookRequest(deps: { db: Db; sql: SqlConnection; runner: Runner }, req: HookRequest): Promise<HookResponse> {
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
  } else if (req.signature) {
    if (!sameSecret(req.signature, signBody(decryptSecret(hook.secretSealed), req.rawBody))) return unauthorized;
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
  let runId: string;
  try {
    ({ runId } = await deps.runner.startRun({ definition, input, ownerId, workflowVersion: Number(hook.version), source: "webhook" }));
  } catch (err) {
    if (err instanceof InvalidRunError) return errorAnswer(err);
    throw err;
  }
  if (!req.wait) return { status: 202, body: { runId, status: "queued" } };
  const timeoutMs = Math.min(req.timeoutMs ?? Number(hook.waitTimeoutMs), MAX_WAIT_MS);
  let timer: NodeJS.Timeout | undefined;
  const result = await Promise.race([deps.runner.waitForRun(runId), new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), timeoutMs)))]);
  clearTimeout(timer); // under load, thousands of waits a minute would otherwise each leave a timer behind
  if (!result) return { status: 202, body: { runId, status: "running", message: `the run is still going after ${timeoutMs} ms; follow it at /runs/${runId}` } };
  return { status: 200, body: { ...result } };
}
