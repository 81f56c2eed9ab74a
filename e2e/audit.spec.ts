import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { expect, request as newRequest, test, type APIRequestContext, type Page } from "@playwright/test";
import { nextAppPath, V1_CATCH_ALL, V1_ROUTES, type V1RouteKey } from "@/lib/api/v1-routes";
import { OWNER } from "./fixtures/auth";
import { builtActions, builtRoutes, callAction, type BuiltAction } from "./fixtures/next-build";

/**
 * The audit log end to end, against the production build:
 * - completeness: every server action (read from the build's manifest) and every mutating route handler method
 *   (route handlers from the build, their methods from their source) is called for real and must write exactly
 *   its audit entry (action and target) — or be on the read-only list with a reason. A new action or route
 *   without an entry fails the first tests;
 * - the Audit page: the changes listed, filters (actor, action, target, dates), pages, and the links from a
 *   workflow's editor and a run's page.
 */

const dataDir = process.env.E2E_DATA_DIR!;
const dbFile = path.join(dataDir, "orchestrator.db");
const tag = Date.now().toString(36);

interface AuditRowDb {
  rowid: number;
  action: string;
  targetType: string;
  targetId: string;
  actorId: string;
  summary: string | null;
  data: string | null;
}

function readDb<T>(sql: string, ...params: unknown[]): T[] {
  const db = new Database(dbFile, { readonly: true });
  try {
    return db.prepare(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}

const lastAuditRowid = () => readDb<{ id: number | null }>(`SELECT MAX(rowid) AS id FROM "AuditLog"`)[0]?.id ?? 0;
const auditAfter = (rowid: number) => readDb<AuditRowDb>(`SELECT rowid, * FROM "AuditLog" WHERE rowid > ? ORDER BY rowid`, rowid);
const runStatus = (runId: string) => readDb<{ status: string }>(`SELECT "status" FROM "Run" WHERE "id" = ?`, runId)[0]?.status;
const waitForStatus = (runId: string, status: string | string[]) =>
  expect.poll(() => runStatus(runId), { timeout: 30_000 }).toMatch(new RegExp(`^(${[status].flat().join("|")})$`));

/**
 * Runs `change`, then expects exactly the audit entries it should have written: one `action` about `targetId`
 * (with a summary), plus `also` (other actions the change makes, e.g. a run started by a resume), nothing else.
 */
async function expectAudited(label: string, change: () => Promise<{ targetId: string; also?: string[] }>, action: string): Promise<AuditRowDb> {
  const before = lastAuditRowid();
  const { targetId, also = [] } = await change();
  // Writes after the answer (none expected) would be missed; the entries are written before the answer.
  const added = auditAfter(before);
  const described = added.map((r) => `${r.action} ${r.targetType}:${r.targetId}`).join(", ") || "nothing";
  const mine = added.filter((r) => r.action === action && r.targetId === targetId);
  expect(mine, `${label}: one ${action} entry about ${targetId}; written: ${described}`).toHaveLength(1);
  expect(mine[0].summary, `${label}: a summary`).toBeTruthy();
  expect(added.map((r) => r.action).sort(), `${label}: only its own entries; written: ${described}`).toEqual([action, ...also].sort());
  return mine[0];
}

// ---------------------------------------------------------------------------------------------------------------
// Server actions

type Results = Record<string, Record<string, unknown>>;
interface State {
  workflowId: string;
  approvalId: string;
  doomedId: string;
  user2: { id: string; email: string };
  user3: { id: string; email: string };
  waitingRunId: string;
  succeededRunId: string;
  /** A run for the bulk actions of the history (cancel, resume, delete). */
  bulkRunId: string;
  checkpointId: string;
  tokenId: string;
  token: string;
  hookSecret: string;
  scheduleId: string;
  defaultModel: string | null;
  results: Results;
}

const plain = (id: string, name = `Audit ${id}`) => ({
  id,
  name,
  steps: [
    { id: "a", type: "transform", config: { output: "one" } },
    { id: "b", type: "transform", config: { output: "two" } },
  ],
  edges: [{ from: "a", to: "b" }],
});
const approvalFlow = (id: string) => ({ id, name: `Approval ${id}`, steps: [{ id: "ok", type: "approval", config: { message: "ok?" } }] });

type ActionCase = {
  /** The arguments (from what earlier cases made). */
  args: (s: State) => unknown[];
  action: string;
  /** The entry's target (the result is the action's answer). */
  target: (s: State, result: Record<string, unknown>) => string;
  /** Other entries the call writes on purpose. */
  also?: string[];
  /** Before the call (setting the scene, not audited here). */
  before?: (s: State) => Promise<void>;
  after?: (s: State, result: Record<string, unknown>) => Promise<void>;
};

/** Every action that changes something, in the order they are called (later ones use what earlier ones made). */
const AUDITED: Record<string, ActionCase> = {
  "app/workflows/actions.ts#saveWorkflow": { args: (s) => [plain(s.workflowId)], action: "workflow.create", target: (s) => s.workflowId },
  "app/workflows/actions.ts#restoreVersion": {
    before: async (s) => void (await ownerCall("app/workflows/actions.ts#saveWorkflow", [{ ...plain(s.workflowId), description: "v2" }])),
    args: (s) => [s.workflowId, 1],
    action: "workflow.restore",
    target: (s) => s.workflowId,
  },
  "app/workflows/actions.ts#runWorkflow": {
    args: (s) => [s.workflowId, {}],
    action: "run.start",
    target: (_s, r) => r.runId as string,
    after: async (s, r) => {
      s.succeededRunId = r.runId as string;
      await waitForStatus(s.succeededRunId, "succeeded");
    },
  },
  "app/workflows/actions.ts#enableWebhook": {
    args: (s) => [s.workflowId],
    action: "webhook.enable",
    target: (s) => s.workflowId,
    after: async (s, r) => void (s.hookSecret = r.secret as string),
  },
  "app/workflows/actions.ts#setWebhookWaitTimeout": { args: (s) => [s.workflowId, 2000], action: "webhook.settings", target: (s) => s.workflowId },
  "app/workflows/actions.ts#disableWebhook": { args: (s) => [s.workflowId], action: "webhook.disable", target: (s) => s.workflowId },
  // A yearly schedule: it does not fire during the suite.
  "app/workflows/schedule-actions.ts#addSchedule": {
    args: (s) => [s.workflowId, { name: "Audit schedule", kind: "cron", cron: "0 9 1 1 *", timezone: "Europe/Berlin" }],
    action: "schedule.create",
    target: (_s, r) => (r.schedule as { id: string }).id,
    after: async (s, r) => void (s.scheduleId = (r.schedule as { id: string }).id),
  },
  "app/workflows/schedule-actions.ts#editSchedule": {
    args: (s) => [s.scheduleId, { name: "Audit schedule", kind: "interval", everyMinutes: 525600 }],
    action: "schedule.update",
    target: (s) => s.scheduleId,
  },
  "app/workflows/schedule-actions.ts#pauseSchedule": { args: (s) => [s.scheduleId], action: "schedule.pause", target: (s) => s.scheduleId },
  "app/workflows/schedule-actions.ts#resumeSchedule": { args: (s) => [s.scheduleId], action: "schedule.resume", target: (s) => s.scheduleId },
  "app/workflows/schedule-actions.ts#removeSchedule": { args: (s) => [s.scheduleId], action: "schedule.delete", target: (s) => s.scheduleId },
  "app/settings/actions.ts#createUser": {
    args: (s) => [{ email: s.user2.email, role: "editor", password: "audit-password-1" }],
    action: "user.add",
    target: (_s, r) => (r.user as { id: string }).id,
    after: async (s, r) => void (s.user2.id = (r.user as { id: string }).id),
  },
  "app/settings/actions.ts#changeUserRole": { args: (s) => [s.user2.id, "viewer"], action: "user.role", target: (s) => s.user2.id },
  "app/settings/actions.ts#removeUser": {
    before: async (s) => {
      const r = await ownerCall("app/settings/actions.ts#createUser", [{ email: s.user3.email, role: "viewer", password: "audit-password-1" }]);
      s.user3.id = (r.user as { id: string }).id;
    },
    args: (s) => [s.user3.id],
    action: "user.remove",
    target: (s) => s.user3.id,
  },
  "app/workflows/actions.ts#shareWorkflow": { args: (s) => [s.workflowId, s.user2.email, "view"], action: "workflow.share", target: (s) => s.workflowId },
  "app/runs/actions.ts#cancelRun": {
    before: async (s) => {
      await ownerCall("app/workflows/actions.ts#saveWorkflow", [approvalFlow(s.approvalId)]);
      s.waitingRunId = (await ownerCall("app/workflows/actions.ts#runWorkflow", [s.approvalId, {}])).runId as string;
      await waitForStatus(s.waitingRunId, "waiting");
    },
    args: (s) => [s.waitingRunId],
    action: "run.cancel",
    target: (s) => s.waitingRunId,
    after: async (s) => waitForStatus(s.waitingRunId, "cancelled"),
  },
  "app/runs/actions.ts#resumeRun": {
    args: (s) => [s.waitingRunId, {}],
    action: "run.resume",
    target: (s) => s.waitingRunId,
    after: async (s) => waitForStatus(s.waitingRunId, "waiting"),
  },
  "app/runs/actions.ts#decideApproval": {
    args: (s) => [s.waitingRunId, { approved: true, comment: "fine" }],
    action: "run.approve",
    target: (s) => s.waitingRunId,
    after: async (s) => waitForStatus(s.waitingRunId, "succeeded"),
  },
  "app/runs/actions.ts#forkRun": {
    before: async (s) => {
      const { checkpoints } = (await ownerCall("app/runs/actions.ts#runCheckpoints", [s.succeededRunId])) as { checkpoints: Array<{ checkpointId: string }> };
      s.checkpointId = checkpoints.at(-2)!.checkpointId; // one with steps still to run after it
    },
    args: (s) => [s.succeededRunId, s.checkpointId, { "vars.n": 2 }],
    action: "run.fork",
    target: (_s, r) => r.runId as string,
    after: async (_s, r) => waitForStatus(r.runId as string, "succeeded"),
  },
  "app/runs/actions.ts#resumeFromCheckpoint": {
    args: (s) => [s.succeededRunId, s.checkpointId],
    action: "run.rewind",
    target: (s) => s.succeededRunId,
    after: async (s) => waitForStatus(s.succeededRunId, "succeeded"),
  },
  // The history's bulk actions: one entry per run they act on (cancel and resume are audited by the runner).
  "app/runs/actions.ts#cancelRuns": {
    before: async (s) => {
      s.bulkRunId = (await ownerCall("app/workflows/actions.ts#runWorkflow", [s.approvalId, {}])).runId as string;
      await waitForStatus(s.bulkRunId, "waiting");
    },
    args: (s) => [[s.bulkRunId]],
    action: "run.cancel",
    target: (s) => s.bulkRunId,
    after: async (s) => waitForStatus(s.bulkRunId, "cancelled"),
  },
  "app/runs/actions.ts#resumeRuns": {
    args: (s) => [[s.bulkRunId]],
    action: "run.resume",
    target: (s) => s.bulkRunId,
    after: async (s) => waitForStatus(s.bulkRunId, "waiting"),
  },
  "app/runs/actions.ts#deleteRuns": {
    before: async (s) => {
      await ownerCall("app/runs/actions.ts#cancelRun", [s.bulkRunId]);
      await waitForStatus(s.bulkRunId, "cancelled");
    },
    args: (s) => [[s.bulkRunId]],
    action: "run.delete",
    target: (s) => s.bulkRunId,
  },
  // A new run: its start entry (origin ui) says what it was run again from.
  "app/runs/actions.ts#runAgain": {
    args: (s) => [s.succeededRunId, {}],
    action: "run.start",
    target: (_s, r) => r.runId as string,
    after: async (_s, r) => waitForStatus(r.runId as string, "succeeded"),
  },
  "app/workflows/actions.ts#removeWorkflow": {
    before: async (s) => void (await ownerCall("app/workflows/actions.ts#saveWorkflow", [plain(s.doomedId)])),
    args: (s) => [s.doomedId],
    action: "workflow.delete",
    target: (s) => s.doomedId,
  },
  // Settings: values that change nothing for other tests (the gateway in the environment wins over the saved one).
  "app/settings/actions.ts#saveGateway": { args: () => [{ llmGatewayUrl: "http://127.0.0.1:9/v1" }], action: "settings.gateway", target: () => "gateway" },
  "app/settings/actions.ts#saveHttpAllow": { args: () => [{ entries: ["10.9.8.7"] }], action: "settings.httpAllow", target: () => "httpAllow" },
  "app/settings/actions.ts#savePrices": { args: () => [{ [`audit-model-${tag}`]: { inputPerMillion: 1, outputPerMillion: 2 } }], action: "settings.prices", target: () => "prices" },
  // A limit on a model no other test calls.
  "app/settings/actions.ts#saveModelLimits": { args: () => [[{ kind: "model", match: `audit-model-${tag}`, rpm: 100_000 }]], action: "settings.modelLimits", target: () => "modelLimits" },
  "app/settings/actions.ts#saveDefaultModelSetting": { args: (s) => [s.defaultModel ?? "gpt-4o-mini"], action: "settings.defaultModel", target: () => "defaultModel" },
  "app/settings/actions.ts#saveRetention": { args: () => [null], action: "settings.retention", target: () => "retention" },
  "app/settings/actions.ts#createApiToken": {
    args: () => [`audit ${tag}`],
    action: "token.create",
    target: (_s, r) => (r.created as { id: string }).id,
    after: async (s, r) => {
      s.tokenId = (r.created as { id: string }).id;
      s.token = (r.created as { token: string }).token;
    },
  },
  "app/settings/actions.ts#revokeApiToken": {
    before: async (s) => {
      // Revoke a second token: the first one is for the REST routes below.
      s.tokenId = ((await ownerCall("app/settings/actions.ts#createApiToken", [`revoked ${tag}`])).created as { id: string }).id;
    },
    args: (s) => [s.tokenId],
    action: "token.revoke",
    target: (s) => s.tokenId,
  },
  "app/settings/actions.ts#saveSecret": { args: () => [{ name: "AUDIT_KEY", value: "audit-secret-value-1" }], action: "secret.create", target: () => "AUDIT_KEY" },
  "app/settings/actions.ts#removeSecret": { args: () => [{ name: "AUDIT_KEY" }], action: "secret.delete", target: () => "AUDIT_KEY" },
};

/** Actions that change nothing: no entry, by design. */
const READ_ONLY_ACTIONS: Record<string, string> = {
  "app/workflows/actions.ts#checkWorkflow": "validates a definition without saving it",
  "app/runs/[runId]/actions.ts#runTimeline": "reads a run's timeline from its event log",
  "app/workflows/actions.ts#checkRunInput": "checks an input against a schema",
  "app/workflows/actions.ts#webhookStatus": "reads the webhook's state",
  "app/workflows/schedule-actions.ts#workflowSchedules": "lists a workflow's schedules and their next fire times",
  "app/workflows/actions.ts#estimateRunCost": "prices a run without starting it",
  "app/workflows/actions.ts#gatewayModels": "lists the gateway's models",
  "app/workflows/actions.ts#workflowShares": "lists a workflow's shares",
  "app/runs/actions.ts#runCheckpoints": "lists a run's checkpoints",
  "app/runs/actions.ts#runCheckpointState": "reads one checkpoint",
  "app/settings/actions.ts#testGateway": "asks the gateway for its models; nothing is saved",
  // Changes something, but only once per install (refused ever after, as here): its user.setup entry is checked below.
  "app/sign-in/actions.ts#setUpOwner": "first-run setup, done before these tests (its entry is checked)",
};

let actions: BuiltAction[];
let ownerRequest: APIRequestContext;

async function ownerCall(key: string, args: unknown[]): Promise<Record<string, unknown>> {
  const built = actions.find((a) => a.key === key);
  if (!built) throw new Error(`no action ${key} in the build`);
  const answer = await callAction(ownerRequest, built, args);
  expect("result" in answer && answer.result.ok, `${key}: ${JSON.stringify(answer).slice(0, 500)}`).toBe(true);
  return (answer as { result: Record<string, unknown> }).result;
}

const state: State = {
  workflowId: `audit-${tag}`,
  approvalId: `audit-approval-${tag}`,
  doomedId: `audit-doomed-${tag}`,
  user2: { id: "", email: `audit-two-${tag}@example.com` },
  user3: { id: "", email: `audit-three-${tag}@example.com` },
  waitingRunId: "",
  succeededRunId: "",
  bulkRunId: "",
  checkpointId: "",
  tokenId: "",
  token: "",
  hookSecret: "",
  scheduleId: "",
  defaultModel: null,
  results: {},
};

test.describe.configure({ mode: "serial" });

test.beforeAll(async ({ browser }) => {
  actions = builtActions();
  // The owner's session (the project's storage state).
  const context = await browser.newContext();
  ownerRequest = context.request;
});

test("every server action of the build changes nothing or writes its audit entry (action, target, summary)", async () => {
  test.setTimeout(240_000);
  const keys = actions.map((a) => a.key);
  expect(keys.length).toBeGreaterThan(20); // the manifest was read
  expect(keys.filter((key) => !(key in AUDITED) && !(key in READ_ONLY_ACTIONS)), "server actions without an entry here (give the action its audit entry, then add it)").toEqual([]);
  expect([...Object.keys(AUDITED), ...Object.keys(READ_ONLY_ACTIONS)].filter((key) => !keys.includes(key)), "entries for actions the build no longer has").toEqual([]);

  state.defaultModel = ((await ownerCall("app/workflows/actions.ts#gatewayModels", [])).defaultModel as string | null) ?? null;
  for (const [key, rule] of Object.entries(AUDITED)) {
    await test.step(key, async () => {
      await rule.before?.(state);
      let result: Record<string, unknown> = {};
      await expectAudited(key, async () => {
        result = await ownerCall(key, rule.args(state));
        return { targetId: rule.target(state, result), also: rule.also };
      }, rule.action);
      await rule.after?.(state, result);
    });
  }
  // Read-only actions write nothing.
  const before = lastAuditRowid();
  await ownerCall("app/workflows/actions.ts#webhookStatus", [state.workflowId]);
  await ownerCall("app/workflows/schedule-actions.ts#workflowSchedules", [state.workflowId]);
  await ownerCall("app/workflows/actions.ts#workflowShares", [state.workflowId]);
  await ownerCall("app/runs/actions.ts#runCheckpointState", [state.succeededRunId, state.checkpointId]);
  await ownerCall("app/workflows/actions.ts#estimateRunCost", [state.workflowId, {}]);
  expect(auditAfter(before)).toEqual([]);
  // The first-run setup recorded the owner.
  expect(readDb(`SELECT 1 FROM "AuditLog" WHERE "action" = 'user.setup'`)).toHaveLength(1);
  // A secret's value is never recorded; the settings entries name what changed.
  expect(readDb(`SELECT 1 FROM "AuditLog" WHERE "data" LIKE '%audit-secret-value-1%' OR "summary" LIKE '%audit-secret-value-1%'`)).toEqual([]);
  const run = readDb<AuditRowDb>(`SELECT * FROM "AuditLog" WHERE "action" = 'run.start' AND "targetId" = ?`, state.succeededRunId)[0];
  expect(JSON.parse(run.data!)).toMatchObject({ origin: "ui" });
  // Settings the test changed are put back where that matters to the tests after it.
  await ownerCall("app/settings/actions.ts#saveHttpAllow", [{ entries: [] }]);
});

// ---------------------------------------------------------------------------------------------------------------
// Route handlers

const MUTATING = ["POST", "PUT", "PATCH", "DELETE"] as const;

/** The mutating methods a route handler file exports (`export async function POST`, `export { x as POST }`). */
function mutatingMethods(route: string): string[] {
  let source: string;
  try {
    source = readFileSync(path.join("app", route, "route.ts"), "utf8");
  } catch {
    return []; // a static metadata route (icon.svg)
  }
  const exported = source.split("\n").filter((line) => line.startsWith("export"));
  return MUTATING.filter((method) => exported.some((line) => new RegExp(`(?:function|const|as)\\s+${method}\\b`).test(line)));
}

type RouteCase = { call: (s: State, api: APIRequestContext) => Promise<{ targetId: string; also?: string[] }>; action: string };

const bearer = (s: State) => ({ authorization: `Bearer ${s.token}` });
const json = async (response: { status(): number; text(): Promise<string> }, status: number) => {
  const text = await response.text();
  expect(response.status(), text).toBe(status);
  return JSON.parse(text) as Record<string, unknown>;
};
let restRunId = "";
let restApprovalRunId = "";
let callbackPath = "";

/** `<route> <METHOD>` (REST routes by their operation in lib/api/v1-routes.ts) → how to call it and its entry. */
const ROUTE_AUDITS: Record<string, RouteCase> = {
  createWorkflow: {
    action: "workflow.create",
    call: async (s, api) => (await json(await api.post("/api/v1/workflows", { headers: bearer(s), data: plain(`rest-${tag}`) }), 201), { targetId: `rest-${tag}` }),
  },
  updateWorkflow: {
    action: "workflow.save",
    call: async (s, api) => (await json(await api.put(`/api/v1/workflows/rest-${tag}`, { headers: bearer(s), data: plain(`rest-${tag}`, "Renamed") }), 200), { targetId: `rest-${tag}` }),
  },
  startRun: {
    action: "run.start",
    call: async (s, api) => {
      const body = await json(await api.post(`/api/v1/workflows/${s.approvalId}/runs`, { headers: bearer(s), data: {} }), 202);
      restRunId = body.runId as string;
      await waitForStatus(restRunId, "waiting");
      return { targetId: restRunId };
    },
  },
  cancelRun: {
    action: "run.cancel",
    call: async (s, api) => (await json(await api.post(`/api/v1/runs/${restRunId}/cancel?wait=true`, { headers: bearer(s) }), 200), { targetId: restRunId }),
  },
  resumeRun: {
    action: "run.resume",
    call: async (s, api) => {
      await json(await api.post(`/api/v1/runs/${restRunId}/resume`, { headers: bearer(s), data: {} }), 202);
      await waitForStatus(restRunId, "waiting");
      return { targetId: restRunId };
    },
  },
  approveRun: {
    action: "run.reject",
    call: async (s, api) => (await json(await api.post(`/api/v1/runs/${restRunId}/approve`, { headers: bearer(s), data: { approved: false } }), 202), { targetId: restRunId }),
  },
  enableWebhook: {
    action: "webhook.rotate", // enabled by the action above, disabled, enabled again here: a rotation only when enabled
    call: async (s, api) => {
      await ownerCall("app/workflows/actions.ts#enableWebhook", [s.approvalId]);
      const body = await json(await api.post(`/api/v1/workflows/${s.approvalId}/webhook`, { headers: bearer(s) }), 201);
      s.hookSecret = body.secret as string;
      (s.results.hook ??= {}).token = body.token;
      return { targetId: s.approvalId, also: ["webhook.enable"] };
    },
  },
  deleteWorkflow: {
    action: "workflow.delete",
    call: async (s, api) => (await json(await api.delete(`/api/v1/workflows/rest-${tag}`, { headers: bearer(s) }), 200), { targetId: `rest-${tag}` }),
  },
  "/api/hooks/[workflowId]/[token] POST": {
    action: "run.start",
    call: async (s, api) => {
      const body = await json(await api.post(`/api/hooks/${s.approvalId}/${s.results.hook!.token as string}`, { data: "{}" }), 202);
      restApprovalRunId = body.runId as string;
      return { targetId: restApprovalRunId };
    },
  },
  "/api/hooks/[workflowId] POST": {
    action: "run.start",
    call: async (s, api) => {
      const body = "{}";
      const timestamp = Math.floor(Date.now() / 1000);
      const signature = `sha256=${createHmac("sha256", s.hookSecret).update(`${timestamp}.${body}`).digest("hex")}`;
      const answer = await json(await api.post(`/api/hooks/${s.approvalId}`, { data: body, headers: { "x-orchestrator-timestamp": String(timestamp), "x-orchestrator-signature": signature } }), 202);
      return { targetId: answer.runId as string };
    },
  },
  "/api/callbacks/[runId]/[stepId]/[execution]/[token] POST": {
    action: "run.callback",
    call: async (s, api) => {
      await ownerCall("app/workflows/actions.ts#saveWorkflow", [{ id: `audit-wait-${tag}`, name: "Wait", steps: [{ id: "wait", type: "wait_webhook", config: {} }] }]);
      const { runId } = (await ownerCall("app/workflows/actions.ts#runWorkflow", [`audit-wait-${tag}`, {}])) as { runId: string };
      await waitForStatus(runId, "waiting");
      callbackPath = (JSON.parse(readDb<{ output: string }>(`SELECT "output" FROM "StepRun" WHERE "runId" = ? AND "stepId" = 'wait'`, runId)[0].output) as { path: string }).path;
      await json(await api.post(callbackPath, { data: { paid: true } }), 202);
      return { targetId: runId, also: ["workflow.create", "run.start"] };
    },
  },
  "/api/auth/[...all] POST": {
    action: "user.signIn",
    call: async (s, api) => {
      const signIn = await api.post("/api/auth/sign-in/email", { data: { email: s.user2.email, password: "audit-password-1" }, headers: { origin: api_base } });
      expect(signIn.status(), await signIn.text()).toBe(200);
      return { targetId: s.user2.id };
    },
  },
};

/** Route handler methods that change nothing. */
const READ_ONLY_ROUTES: Record<string, string> = {
  [`${V1_CATCH_ALL} POST`]: "answers 401/404 for paths that are not routes",
  [`${V1_CATCH_ALL} PUT`]: "answers 401/404 for paths that are not routes",
  [`${V1_CATCH_ALL} PATCH`]: "answers 401/404 for paths that are not routes",
  [`${V1_CATCH_ALL} DELETE`]: "answers 401/404 for paths that are not routes",
};

let api_base = "";

test("every mutating route handler method writes its audit entry (REST API, webhooks, callbacks, sign-in)", async ({ baseURL }) => {
  test.setTimeout(240_000);
  api_base = baseURL!;
  expect(state.token, "the actions test made the token").toBeTruthy();
  // What the build serves: a route handler's mutating methods; a REST route by its operation.
  const handlers = builtRoutes().filter((r) => r.kind === "route").map((r) => r.route);
  expect(handlers.length).toBeGreaterThan(5);
  const cases: string[] = [];
  for (const route of handlers)
    for (const method of mutatingMethods(route)) {
      const rest = V1_ROUTES.find((r) => r.method === method && nextAppPath(r) === route);
      cases.push(rest ? rest.key : `${route} ${method}`);
    }
  expect(cases).toEqual(expect.arrayContaining(["startRun", "/api/auth/[...all] POST"])); // the sources were read
  expect(cases.filter((c) => !(c in ROUTE_AUDITS) && !(c in READ_ONLY_ROUTES)), "route methods without an entry here (give them their audit entry, then add them)").toEqual([]);
  // Every mutating REST operation is served (the list and the build agree).
  for (const route of V1_ROUTES.filter((r) => r.method !== "GET")) expect(cases).toContain(route.key as V1RouteKey);
  expect([...Object.keys(ROUTE_AUDITS), ...Object.keys(READ_ONLY_ROUTES)].filter((c) => !cases.includes(c)), "entries for routes the build no longer has").toEqual([]);

  const api = await newRequest.newContext({ baseURL: api_base, storageState: { cookies: [], origins: [] } });
  try {
    for (const [key, rule] of Object.entries(ROUTE_AUDITS)) await test.step(key, async () => void (await expectAudited(key, () => rule.call(state, api), rule.action)));
    // Runs started through the API and by the webhook record their origin; a webhook's run says who it is recorded as.
    expect(JSON.parse(readDb<AuditRowDb>(`SELECT * FROM "AuditLog" WHERE "targetId" = ? AND "action" = 'run.start'`, restRunId)[0].data!)).toMatchObject({ origin: "api" });
    const hooked = readDb<AuditRowDb>(`SELECT * FROM "AuditLog" WHERE "targetId" = ? AND "action" = 'run.start'`, restApprovalRunId)[0];
    expect(JSON.parse(hooked.data!)).toMatchObject({ origin: "webhook" });
    expect(hooked.summary).toMatch(/webhook.*no signed-in user/);
    // Signing out is recorded too.
    await expectAudited("sign-out", async () => {
      expect((await api.post("/api/auth/sign-out", { data: {}, headers: { origin: api_base } })).status()).toBe(200);
      return { targetId: state.user2.id };
    }, "user.signOut");
  } finally {
    await api.dispose();
  }
});

// ---------------------------------------------------------------------------------------------------------------
// The Audit page

const rows = (page: Page) => page.getByTestId("audit-row");

test("the Audit page lists the changes, filters by actor, action, target and dates, pages, and is linked from workflows and runs", async ({ page }) => {
  test.setTimeout(120_000);
  // More than a page of changes, whatever ran before: versions of a workflow of its own.
  for (let i = 0; i < 52; i++) await ownerCall("app/workflows/actions.ts#saveWorkflow", [{ ...plain(`audit-pages-${tag}`), description: `v${i + 1}` }]);
  await page.goto("/");
  await page.getByTestId("nav-audit").click();
  await expect(page).toHaveURL(/\/audit$/);
  await expect(rows(page).first()).toBeVisible();
  // Newest first: the last save is the latest change.
  await expect(rows(page).first()).toHaveAttribute("data-action", "workflow.save");
  await expect(page.getByTestId("audit-table")).toContainText(`Saved version 52 of workflow "Audit audit-pages-${tag}"`);

  // Pages of 50: the next page continues where the first ended; back to the newest.
  const firstPage = await rows(page).evaluateAll((els) => els.map((el) => el.textContent));
  expect(firstPage).toHaveLength(50);
  await page.getByTestId("audit-older").click();
  await expect(page).toHaveURL(/cursor=/);
  const secondPage = await rows(page).evaluateAll((els) => els.map((el) => el.textContent));
  expect(secondPage.length).toBeGreaterThan(0);
  expect(secondPage.filter((row) => firstPage.includes(row))).toEqual([]);
  await page.getByTestId("audit-newest").click();
  await expect(page).not.toHaveURL(/cursor=/);

  // By action (a group or one action).
  await page.getByTestId("audit-filter-action").fill("run.cancel");
  await page.getByTestId("audit-filter-apply").click();
  await expect(page).toHaveURL(/action=run.cancel/);
  // Every run.cancel entry (the owner sees all; other specs may have cancelled runs before), this spec's among them.
  const cancels = readDb<{ n: number }>(`SELECT COUNT(*) AS n FROM "AuditLog" WHERE "action" = 'run.cancel'`)[0].n;
  await expect(rows(page)).toHaveCount(Math.min(cancels, 50));
  for (const action of await rows(page).evaluateAll((els) => els.map((el) => el.getAttribute("data-action")))) expect(action).toBe("run.cancel");
  if (cancels <= 50) {
    const targets = await rows(page).evaluateAll((els) => els.map((el) => el.getAttribute("data-target")));
    expect(targets).toEqual(expect.arrayContaining([state.waitingRunId, state.bulkRunId, restRunId])); // actions, the bulk action, the REST API
  }

  // By target.
  await page.goto("/audit");
  await page.getByTestId("audit-filter-target").fill(state.waitingRunId);
  await page.getByTestId("audit-filter-apply").click();
  await expect(rows(page)).toHaveCount(4);
  expect(await rows(page).evaluateAll((els) => els.map((el) => el.getAttribute("data-action")))).toEqual(["run.approve", "run.resume", "run.cancel", "run.start"]);
  await expect(page.getByTestId("audit-origin").first()).toBeVisible(); // the run's start shows its origin ("ui")

  // By actor: the second user's own changes (sign-in and sign-out), none of the owner's.
  await page.goto("/audit");
  await page.getByTestId("audit-filter-actor").fill(state.user2.email);
  await page.getByTestId("audit-filter-apply").click();
  expect(await rows(page).evaluateAll((els) => els.map((el) => el.getAttribute("data-action")))).toEqual(["user.signOut", "user.signIn"]);
  await page.getByTestId("audit-filter-actor").fill(OWNER.email);
  await page.getByTestId("audit-filter-apply").click();
  await expect(rows(page)).toHaveCount(50);
  expect(new Set(await rows(page).evaluateAll((els) => els.map((el) => el.getAttribute("data-actor"))))).toEqual(new Set([OWNER.email]));

  // By dates: today has entries; from tomorrow has none; a range ending yesterday has none.
  const day = (offset: number) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);
  await page.goto(`/audit?action=workflow.create&from=${day(0)}&to=${day(0)}`);
  await expect(rows(page).first()).toBeVisible();
  await page.getByTestId("audit-filter-from").fill(day(1));
  await page.getByTestId("audit-filter-to").fill(day(2));
  await page.getByTestId("audit-filter-apply").click();
  await expect(page.getByTestId("audit-empty")).toBeVisible();
  await page.goto(`/audit?to=${day(-1)}`);
  await expect(page.getByTestId("audit-empty")).toBeVisible();
  // A bad filter is named, not a crash.
  await page.goto("/audit?from=not-a-date");
  await expect(page.getByTestId("audit-error")).toContainText("from:");
  await page.goto("/audit?cursor=bogus");
  await expect(page.getByTestId("audit-error")).toContainText("cursor");

  // From a workflow's editor: the entries about it, its webhook, shares and runs.
  await page.goto(`/workflows/${state.workflowId}`);
  await page.getByTestId("audit-link").click();
  await expect(page).toHaveURL(new RegExp(`/audit\\?workflow=${state.workflowId}$`));
  const about = await rows(page).evaluateAll((els) => els.map((el) => el.getAttribute("data-action")));
  expect(about).toEqual(expect.arrayContaining(["workflow.create", "workflow.save", "workflow.restore", "webhook.enable", "webhook.disable", "workflow.share", "run.start", "run.fork", "run.rewind"]));
  expect(about).not.toContain("user.add");

  // From a run's page: the entries about that run.
  await page.goto(`/runs/${state.succeededRunId}`);
  await page.getByTestId("audit-link").click();
  await expect(page).toHaveURL(new RegExp(`/audit\\?targetType=run&targetId=${state.succeededRunId}$`));
  expect(await rows(page).evaluateAll((els) => els.map((el) => el.getAttribute("data-action")))).toEqual(["run.rewind", "run.start"]);
  // And back from an entry to its run.
  await page.getByTestId("audit-row").first().getByRole("link", { name: state.succeededRunId }).click();
  await expect(page).toHaveURL(new RegExp(`/runs/${state.succeededRunId}$`));
});
