import { spawn } from "node:child_process";
import { createHmac } from "node:crypto";
import path from "node:path";
import Database from "better-sqlite3";
import fc from "fast-check";
import { expect, request as newRequest, test, type APIRequestContext, type APIResponse } from "@playwright/test";
import { io as connect, type Socket } from "socket.io-client";
import { createDb } from "@/lib/db";
import { CLIENT_EVENTS, type ClientToServerEvents, type ServerToClientEvents } from "@/lib/realtime/events";
import { setShare } from "@/lib/workflows/repository";
import { CLI_BIN } from "./fixtures/cli-process";
import { changedTables, dbSnapshot } from "./fixtures/db-snapshot";
import { deepJsonText, describeValue, hostileDefinition, hostileJson, hostileKey, wireValue } from "./fixtures/hostile-values";
import { builtActions, builtRoutes, callAction, type ActionAnswer, type BuiltAction } from "./fixtures/next-build";
import { GATEWAY } from "./fixtures/server-process";

/**
 * The cross-user matrix: every page, route handler, server action and socket event of the production build,
 * tried by an anonymous client, by a second user (bob, an editor nothing is shared with) against the first user's
 * (alice's) workflow, versions, run, checkpoints and webhook, and by a user alice shared the workflow with to view
 * (carol): anonymous → 401 / the sign-in page / UNAUTHORIZED; bob → 404 / NOT_FOUND (or 403 where his role is too
 * low); carol → reads, and FORBIDDEN for changes. Nothing any of them tries changes stored data.
 *
 * The routes and actions come from the build's manifests: one without an entry in the tables below fails the
 * first test, so a new page, route, action or socket event cannot be forgotten. Adding one is one entry (REST
 * routes: `api(method, url, carol)` for one of alice's objects, `apiList(url, carolSees)`, `openRoute(url)`).
 *
 * Then property-based hostile input (fast-check) over HTTP: server actions and webhook triggers answer every
 * generated argument, body and header with a typed refusal (never a 500, never a stack trace) and store nothing.
 */

const dataDir = process.env.E2E_DATA_DIR!;
const dbFile = path.join(dataDir, "orchestrator.db");
const cliEnv = { ...process.env, ORCHESTRATOR_DATA_DIR: dataDir, DATABASE_URL: "", LLM_GATEWAY_URL: `${GATEWAY}/v1`, LLM_API_KEY: "e2e", LOG_LEVEL: "warn" };
const tag = Date.now().toString(36);

// ---------------------------------------------------------------------------------------------------------------
// Who asks, and what of alice's there is to ask for.

interface User {
  email: string;
  id: string;
  /** Signed in (session cookie). */
  web: APIRequestContext;
  cookie: string;
  /** An API token of the user (`Authorization: Bearer`). */
  token: string;
}

interface Ids {
  workflowId: string;
  workflowName: string;
  runId: string;
  checkpointId: string;
  hookToken: string;
  hookSecret: string;
  callbackPath: string;
  /** Alice's session token: what bob must not be able to revoke. */
  aliceSession: string;
  /** A schedule of alice's workflow (yearly: it does not fire during the suite). */
  scheduleId: string;
}

interface Context {
  base: string;
  anonymous: APIRequestContext;
  alice: User;
  bob: User;
  carol: User;
  ids: Ids;
}

/** Anything that would show alice's objects: her workflow's id and name, run, checkpoint, hook credentials. */
const traces = (ids: Ids) => [ids.workflowId, ids.workflowName, ids.runId, ids.checkpointId, ids.hookToken, ids.hookSecret, ids.callbackPath.split("/").at(-1)!, ids.aliceSession, ids.scheduleId];

/** `echoed`: the URL asked for — a page may repeat what is in it (Next's payload names the path) without showing anything. */
function expectNoTrace(text: string, ids: Ids, where: string, echoed = "") {
  for (const trace of traces(ids)) if (!echoed.includes(trace)) expect(text.includes(trace), `${where} shows "${trace}"`).toBe(false);
}

// ---------------------------------------------------------------------------------------------------------------
// Pages: every page pattern of the build.

type PageRule = {
  /** URLs to ask for, with alice's ids in the dynamic segments. */
  urls: (ids: Ids) => string[];
  /**
   * `sign-in`: redirected there; `public`: served (no data in it); `setup-done`: the setup is over, sign in
   * instead; `static-error`: Next's prerendered error page, the same file for everyone (its status is 500).
   */
  anonymous: "sign-in" | "public" | "setup-done" | "static-error";
  /** `not-found`: 404; `no-trace`: 200 without anything of alice's; `elsewhere`: redirected to a page not about her objects. */
  bob: "not-found" | "no-trace" | "elsewhere";
  /** With the workflow shared to view, carol sees it (the control that the 404 is about access, not a bad URL). */
  carol?: "shown";
};

const PAGES: Record<string, PageRule> = {
  "/": { urls: () => ["/"], anonymous: "sign-in", bob: "no-trace" },
  "/runs": {
    urls: (ids) => ["/runs", `/runs?workflow=${ids.workflowId}`, "/runs?status=waiting", "/runs?search=private", "/runs?trigger=ui&sort=cost&order=asc"],
    anonymous: "sign-in",
    bob: "no-trace",
  },
  "/runs/[runId]": { urls: (ids) => [`/runs/${ids.runId}`], anonymous: "sign-in", bob: "not-found", carol: "shown" },
  "/runs/compare": { urls: (ids) => [`/runs/compare?a=${ids.runId}&b=${ids.runId}`], anonymous: "sign-in", bob: "not-found", carol: "shown" },
  "/workflows/[id]": { urls: (ids) => [`/workflows/${ids.workflowId}`, `/workflows/${ids.workflowId}?version=1`], anonymous: "sign-in", bob: "not-found", carol: "shown" },
  "/workflows/new": { urls: () => ["/workflows/new"], anonymous: "sign-in", bob: "elsewhere" },
  "/settings": { urls: () => ["/settings"], anonymous: "sign-in", bob: "no-trace" },
  // Bob's audit log holds nothing of alice's, also when he asks for her workflow's or run's entries.
  "/audit": {
    urls: (ids) => ["/audit", `/audit?workflow=${ids.workflowId}`, `/audit?targetType=run&targetId=${ids.runId}`, `/audit?actor=alice-${tag}@example.com`],
    anonymous: "sign-in",
    bob: "no-trace",
  },
  "/dashboard": { urls: () => ["/dashboard", "/dashboard?range=30d", "/dashboard?range=1y"], anonymous: "sign-in", bob: "no-trace" },
  "/workflows/[id]/dashboard": { urls: (ids) => [`/workflows/${ids.workflowId}/dashboard`, `/workflows/${ids.workflowId}/dashboard?range=7d`], anonymous: "sign-in", bob: "not-found", carol: "shown" },
  "/setup": { urls: () => ["/setup"], anonymous: "setup-done", bob: "elsewhere" },
  "/sign-in": { urls: () => ["/sign-in"], anonymous: "public", bob: "elsewhere" },
  "/_not-found": { urls: () => ["/_not-found"], anonymous: "public", bob: "no-trace" },
  "/_global-error": { urls: () => ["/_global-error"], anonymous: "static-error", bob: "no-trace" },
};

const get = (client: APIRequestContext, url: string) => client.get(url, { maxRedirects: 0 });
const location = (response: APIResponse) => response.headers().location ?? "";

async function checkPage(rule: PageRule, context: Context) {
  const { ids } = context;
  for (const url of rule.urls(ids)) {
    const anonymous = await get(context.anonymous, url);
    if (rule.anonymous === "sign-in") {
      expect(anonymous.status(), `anonymous ${url}`).toBe(307);
      expect(location(anonymous), `anonymous ${url}`).toMatch(/^\/sign-in\?next=/);
    } else if (rule.anonymous === "setup-done") {
      expect(anonymous.status(), `anonymous ${url}`).toBe(307);
      expect(location(anonymous)).toBe("/sign-in");
    } else if (rule.anonymous === "static-error") {
      expect(anonymous.headers()["x-nextjs-prerender"], `anonymous ${url}`).toBeTruthy();
    } else {
      expect(anonymous.status(), `anonymous ${url}`).toBeLessThan(500);
    }
    expectNoTrace(await anonymous.text(), ids, `anonymous ${url}`, url);

    const bob = await get(context.bob.web, url);
    const bobText = await bob.text();
    expectNoTrace(bobText, ids, `bob's ${url}`, url);
    expectNoTrace(location(bob), ids, `bob's redirect from ${url}`, url);
    if (rule.bob === "not-found") expect(bob.status(), `bob's ${url}`).toBe(404);
    if (rule.bob === "no-trace" && rule.anonymous !== "static-error") expect(bob.status(), `bob's ${url}`).toBeLessThan(500);
    if (rule.bob === "elsewhere") expect([200, 307], `bob's ${url}`).toContain(bob.status());

    if (rule.carol === "shown") {
      const carol = await get(context.carol.web, url);
      expect(carol.status(), `carol's ${url}`).toBe(200);
      expect(await carol.text()).toContain(url.includes("/runs/") ? ids.runId : ids.workflowId);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Route handlers: each entry tries the route as each of them. REST routes are one `api(...)` entry each.

type RouteRule = (context: Context) => Promise<void>;

/**
 * A REST route about one of alice's objects (for the REST API under /api/v1): no token or a bad one → 401; bob
 * (token or session) → 404; carol → `carol` (200 for reads, 403 for changes).
 */
export function api(method: "GET" | "POST" | "PUT" | "DELETE", url: (ids: Ids) => string, carol: 200 | 403, body: (ids: Ids) => unknown = () => ({})): RouteRule {
  return async (context) => {
    const send = (client: APIRequestContext, headers: Record<string, string> = {}) =>
      client.fetch(url(context.ids), { method, headers, ...(method === "GET" ? {} : { data: body(context.ids) }), maxRedirects: 0 });
    expect((await send(context.anonymous)).status()).toBe(401);
    expect((await send(context.anonymous, { authorization: "Bearer orc_not-a-token" })).status()).toBe(401);
    for (const response of [await send(context.anonymous, { authorization: `Bearer ${context.bob.token}` }), await send(context.bob.web)]) {
      expect(response.status()).toBe(404);
      // A 404 may repeat the id asked for ("workflow x not found"); it shows nothing else of alice's.
      expectNoTrace(await response.text(), context.ids, `bob's ${method} ${url(context.ids)}`, url(context.ids));
    }
    expect((await send(context.anonymous, { authorization: `Bearer ${context.carol.token}` })).status()).toBe(carol);
  };
}

/** A REST route listing what the caller may see (`GET /api/v1/runs`): 401 without a token; bob's list has nothing of alice's, carol's has what is shared with her. */
export function apiList(url: (ids: Ids) => string, carolSees: (ids: Ids) => string): RouteRule {
  return async (context) => {
    expect((await context.anonymous.get(url(context.ids))).status()).toBe(401);
    const bob = await context.anonymous.get(url(context.ids), { headers: { authorization: `Bearer ${context.bob.token}` } });
    expect(bob.status()).toBe(200);
    expectNoTrace(await bob.text(), context.ids, `bob's GET ${url(context.ids)}`, url(context.ids));
    const carol = await context.anonymous.get(url(context.ids), { headers: { authorization: `Bearer ${context.carol.token}` } });
    expect(await carol.text()).toContain(carolSees(context.ids));
  };
}

/** A route open to anyone that holds nothing of anyone's (`/api/v1/openapi.json`): 200 for all, no trace. */
export function openRoute(url: string): RouteRule {
  return async (context) => {
    for (const client of [context.anonymous, context.bob.web]) {
      const response = await client.get(url);
      expect(response.status()).toBe(200);
      expectNoTrace(await response.text(), context.ids, `GET ${url}`);
    }
  };
}

const hookBody = '{"name":"mallory"}';

const ROUTES: Record<string, RouteRule> = {
  // Prometheus metrics: an admin's or the owner's token (the setup is done, so loopback alone is not enough);
  // editors and viewers are refused by role, whether by token or session (200 for the owner: e2e/dashboard.spec.ts).
  "/metrics": async ({ anonymous, bob, carol }) => {
    expect((await anonymous.get("/metrics")).status()).toBe(401);
    expect((await anonymous.get("/metrics", { headers: { authorization: "Bearer orc_not-a-token" } })).status()).toBe(401);
    for (const response of [await anonymous.get("/metrics", { headers: { authorization: `Bearer ${bob.token}` } }), await bob.web.get("/metrics"), await anonymous.get("/metrics", { headers: { authorization: `Bearer ${carol.token}` } })]) {
      expect(response.status()).toBe(403);
      expect(await response.text()).not.toContain("orchestrator_");
    }
  },
  // Health (probes, load balancers): counts only, the same for everyone, nothing of anyone's runs.
  "/api/health": openRoute("/api/health"),
  // The app's icon (a static metadata route): the same file for everyone.
  "/icon.svg": openRoute("/icon.svg"),
  // Better Auth: sign-in, sessions and the user's own account. Open to anyone, about the caller only.
  "/api/auth/[...all]": async ({ anonymous, bob, alice, ids, base }) => {
    expect(await (await anonymous.get("/api/auth/get-session")).json()).toBeNull();
    for (const endpoint of ["/api/auth/list-sessions", "/api/auth/list-accounts"]) expect((await anonymous.get(endpoint)).status()).toBe(401);
    expect((await anonymous.post("/api/auth/update-user", { data: { name: "anon" }, headers: { origin: base } })).status()).toBe(401);
    const users = dbSnapshot(dbFile).User;
    const signUp = await anonymous.post("/api/auth/sign-up/email", { data: { email: `mallory-${tag}@example.com`, password: "mallory-password-1", name: "m" }, headers: { origin: base } });
    expect(signUp.status()).toBeGreaterThanOrEqual(400);
    expect(dbSnapshot(dbFile).User).toEqual(users); // sign-up is off
    // Bob sees his own sessions only, cannot revoke alice's, and cannot make himself the owner.
    const sessions = await bob.web.get("/api/auth/list-sessions");
    expect(sessions.status()).toBe(200);
    expectNoTrace(await sessions.text(), ids, "bob's list-sessions");
    await bob.web.post("/api/auth/revoke-session", { data: { token: ids.aliceSession }, headers: { origin: base } });
    expect(await (await alice.web.get("/api/auth/get-session")).json()).toMatchObject({ user: { email: alice.email } });
    await bob.web.post("/api/auth/update-user", { data: { role: "owner", name: "bob" }, headers: { origin: base } });
    expect(await (await bob.web.get("/api/auth/get-session")).json()).toMatchObject({ user: { email: bob.email, role: "editor" } });
  },
  // Signed webhook: only the workflow's own secret opens it; a session or an API token does not.
  "/api/hooks/[workflowId]": async ({ anonymous, bob, ids }) => {
    const url = `/api/hooks/${ids.workflowId}`;
    expect((await anonymous.post(url, { data: hookBody })).status()).toBe(401);
    expect((await anonymous.post(url, { data: hookBody, headers: { "x-orchestrator-signature": "sha256=00" } })).status()).toBe(401);
    expect((await bob.web.post(url, { data: hookBody })).status()).toBe(401);
    expect((await anonymous.post(url, { data: hookBody, headers: { authorization: `Bearer ${bob.token}` } })).status()).toBe(401);
    expect((await anonymous.get(url)).status()).toBeGreaterThanOrEqual(400);
  },
  "/api/hooks/[workflowId]/[token]": async ({ anonymous, bob, ids }) => {
    for (const client of [anonymous, bob.web]) {
      expect((await client.post(`/api/hooks/${ids.workflowId}/${ids.hookToken}x`, { data: hookBody })).status()).toBe(401);
      expect((await client.post(`/api/hooks/${ids.workflowId}/${bob.token}`, { data: hookBody })).status()).toBe(401);
    }
  },
  // A callback URL is its own credential (bound to run, step and execution); a session does not replace it.
  "/api/callbacks/[runId]/[stepId]/[execution]/[token]": async ({ anonymous, bob, ids }) => {
    const wrong = ids.callbackPath.replace(/[^/]+$/, "not-the-token");
    for (const client of [anonymous, bob.web]) {
      expect((await client.post(wrong, { data: { forged: true } })).status()).toBe(404);
      expect((await client.post(ids.callbackPath.replace(/\/1\//, "/2/"), { data: { forged: true } })).status()).toBe(404);
    }
  },  // The REST API (lib/api/v1-routes.ts): every route takes a token or a session; alice's objects are 404 to bob.
  "/api/v1/openapi.json": async ({ anonymous, bob, ids }) => {
    expect((await anonymous.get("/api/v1/openapi.json")).status()).toBe(401);
    const document = await anonymous.get("/api/v1/openapi.json", { headers: { authorization: `Bearer ${bob.token}` } });
    expect(document.status()).toBe(200);
    expectNoTrace(await document.text(), ids, "GET /api/v1/openapi.json");
  },
  "/api/v1/[...path]": async ({ anonymous, bob }) => {
    expect((await anonymous.get("/api/v1/nothing-here")).status()).toBe(401);
    expect((await anonymous.get("/api/v1/nothing-here", { headers: { authorization: `Bearer ${bob.token}` } })).status()).toBe(404);
  },
  "/api/v1/workflows": apiList(() => "/api/v1/workflows", (ids) => ids.workflowId),
  "/api/v1/workflows/[id]": all(
    api("GET", (ids) => `/api/v1/workflows/${ids.workflowId}`, 200),
    api("PUT", (ids) => `/api/v1/workflows/${ids.workflowId}`, 403, (ids) => ({ id: ids.workflowId, name: "taken over", steps: [{ id: "t", type: "transform", config: { output: 1 } }] })),
    api("DELETE", (ids) => `/api/v1/workflows/${ids.workflowId}`, 403),
  ),
  "/api/v1/workflows/[id]/runs": api("POST", (ids) => `/api/v1/workflows/${ids.workflowId}/runs`, 403),
  "/api/v1/workflows/[id]/webhook": api("POST", (ids) => `/api/v1/workflows/${ids.workflowId}/webhook`, 403),
  "/api/v1/runs": apiList(() => "/api/v1/runs", (ids) => ids.runId),
  "/api/v1/runs/[runId]": api("GET", (ids) => `/api/v1/runs/${ids.runId}`, 200),
  "/api/v1/runs/[runId]/events": api("GET", (ids) => `/api/v1/runs/${ids.runId}/events`, 200),
  "/api/v1/runs/[runId]/cancel": api("POST", (ids) => `/api/v1/runs/${ids.runId}/cancel`, 403),
  "/api/v1/runs/[runId]/resume": api("POST", (ids) => `/api/v1/runs/${ids.runId}/resume`, 403),
  "/api/v1/runs/[runId]/approve": api("POST", (ids) => `/api/v1/runs/${ids.runId}/approve`, 403, () => ({ approved: false })),
};

/** Several rules for one route file (its methods). */
function all(...rules: RouteRule[]): RouteRule {
  return async (context) => {
    for (const rule of rules) await rule(context);
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Server actions, by file#export (ids change per build).

type Expect = "ok" | "NOT_FOUND" | "FORBIDDEN" | "INVALID_DEFINITION" | "CONFLICT" | "INVALID_REQUEST";

type ActionRule = {
  /** The arguments, aimed at alice's objects. */
  args: (ids: Ids) => unknown[];
  /** What an anonymous caller gets (default UNAUTHORIZED). */
  anonymous?: Expect;
  bob: Expect;
  carol: Expect;
};

const aliceDefinition = (ids: Ids, name = ids.workflowName) => ({
  id: ids.workflowId,
  name,
  steps: [
    { id: "wait", type: "wait_webhook", config: {} },
    { id: "approve", type: "approval", config: { message: "ok?" } },
  ],
  edges: [{ from: "wait", to: "approve" }],
});

const ACTIONS: Record<string, ActionRule> = {
  "app/workflows/actions.ts#saveWorkflow": { args: (ids) => [aliceDefinition(ids, "taken over")], bob: "INVALID_DEFINITION", carol: "FORBIDDEN" },
  "app/workflows/actions.ts#checkWorkflow": { args: (ids) => [aliceDefinition(ids)], bob: "ok", carol: "ok" },
  "app/workflows/actions.ts#runWorkflow": { args: (ids) => [ids.workflowId, {}], bob: "NOT_FOUND", carol: "FORBIDDEN" },
  "app/workflows/actions.ts#restoreVersion": { args: (ids) => [ids.workflowId, 1], bob: "NOT_FOUND", carol: "FORBIDDEN" },
  "app/workflows/actions.ts#webhookStatus": { args: (ids) => [ids.workflowId], bob: "NOT_FOUND", carol: "ok" },
  "app/workflows/actions.ts#enableWebhook": { args: (ids) => [ids.workflowId], bob: "NOT_FOUND", carol: "FORBIDDEN" },
  "app/workflows/actions.ts#disableWebhook": { args: (ids) => [ids.workflowId], bob: "NOT_FOUND", carol: "FORBIDDEN" },
  "app/workflows/schedule-actions.ts#workflowSchedules": { args: (ids) => [ids.workflowId], bob: "NOT_FOUND", carol: "ok" },
  "app/workflows/schedule-actions.ts#addSchedule": { args: (ids) => [ids.workflowId, { name: "taken over", kind: "interval", everyMinutes: 1 }], bob: "NOT_FOUND", carol: "FORBIDDEN" },
  "app/workflows/schedule-actions.ts#editSchedule": { args: (ids) => [ids.scheduleId, { name: "taken over", kind: "interval", everyMinutes: 1 }], bob: "NOT_FOUND", carol: "FORBIDDEN" },
  "app/workflows/schedule-actions.ts#pauseSchedule": { args: (ids) => [ids.scheduleId], bob: "NOT_FOUND", carol: "FORBIDDEN" },
  "app/workflows/schedule-actions.ts#resumeSchedule": { args: (ids) => [ids.scheduleId], bob: "NOT_FOUND", carol: "FORBIDDEN" },
  "app/workflows/schedule-actions.ts#removeSchedule": { args: (ids) => [ids.scheduleId], bob: "NOT_FOUND", carol: "FORBIDDEN" },
  "app/workflows/actions.ts#setWebhookWaitTimeout": { args: (ids) => [ids.workflowId, 1000], bob: "NOT_FOUND", carol: "FORBIDDEN" },
  "app/workflows/actions.ts#estimateRunCost": { args: (ids) => [ids.workflowId, {}], bob: "NOT_FOUND", carol: "ok" },
  "app/workflows/actions.ts#gatewayModels": { args: () => [], bob: "ok", carol: "ok" },
  "app/runs/actions.ts#cancelRun": { args: (ids) => [ids.runId], bob: "NOT_FOUND", carol: "FORBIDDEN" },
  "app/runs/actions.ts#resumeRun": { args: (ids) => [ids.runId, { useLatestVersion: true }], bob: "NOT_FOUND", carol: "FORBIDDEN" },
  "app/runs/actions.ts#decideApproval": { args: (ids) => [ids.runId, { approved: true }], bob: "NOT_FOUND", carol: "FORBIDDEN" },
  "app/runs/actions.ts#runCheckpoints": { args: (ids) => [ids.runId], bob: "NOT_FOUND", carol: "ok" },
  "app/runs/actions.ts#runCheckpointState": { args: (ids) => [ids.runId, ids.checkpointId], bob: "NOT_FOUND", carol: "ok" },
  "app/runs/actions.ts#resumeFromCheckpoint": { args: (ids) => [ids.runId, ids.checkpointId], bob: "NOT_FOUND", carol: "FORBIDDEN" },
  "app/runs/actions.ts#forkRun": { args: (ids) => [ids.runId, ids.checkpointId, {}], bob: "NOT_FOUND", carol: "FORBIDDEN" },
  "app/runs/actions.ts#deleteRuns": { args: (ids) => [[ids.runId]], bob: "NOT_FOUND", carol: "FORBIDDEN" },
  "app/runs/actions.ts#cancelRuns": { args: (ids) => [[ids.runId]], bob: "NOT_FOUND", carol: "FORBIDDEN" },
  "app/runs/actions.ts#resumeRuns": { args: (ids) => [[ids.runId]], bob: "NOT_FOUND", carol: "FORBIDDEN" },
  "app/runs/actions.ts#runAgain": { args: (ids) => [ids.runId, { useLatestVersion: true }], bob: "NOT_FOUND", carol: "FORBIDDEN" },
  "app/runs/[runId]/actions.ts#runTimeline": { args: (ids) => [ids.runId], bob: "NOT_FOUND", carol: "ok" },
  // Settings are the admins': editors are refused by role (the gateway URL could otherwise be pointed at a listener).
  "app/settings/actions.ts#saveGateway": { args: () => [{ llmGatewayUrl: "http://127.0.0.1:9/v1" }], bob: "FORBIDDEN", carol: "FORBIDDEN" },
  "app/settings/actions.ts#testGateway": { args: () => [{ llmGatewayUrl: "http://127.0.0.1:9/v1" }], bob: "FORBIDDEN", carol: "FORBIDDEN" },
  "app/settings/actions.ts#saveHttpAllow": { args: () => [{ entries: ["0.0.0.0/0"] }], bob: "FORBIDDEN", carol: "FORBIDDEN" },
  "app/settings/actions.ts#savePrices": { args: () => [{ "gpt-x": { input: 0, output: 0 } }], bob: "FORBIDDEN", carol: "FORBIDDEN" },
  "app/settings/actions.ts#saveDefaultModelSetting": { args: () => ["mallory-model"], bob: "FORBIDDEN", carol: "FORBIDDEN" },
  // A limit of 1 call a minute on every run's model would stall everyone's runs: admins only.
  "app/settings/actions.ts#saveModelLimits": { args: () => [[{ kind: "model", match: "test-model", rpm: 1 }]], bob: "FORBIDDEN", carol: "FORBIDDEN" },
  "app/settings/actions.ts#saveRetention": { args: () => [1], bob: "FORBIDDEN", carol: "FORBIDDEN" },
  "app/workflows/actions.ts#checkRunInput": { args: () => [{ type: "object" }, {}], bob: "ok", carol: "ok" },
  "app/workflows/actions.ts#removeWorkflow": { args: (ids) => [ids.workflowId], bob: "NOT_FOUND", carol: "FORBIDDEN" },
  "app/workflows/actions.ts#workflowShares": { args: (ids) => [ids.workflowId], bob: "NOT_FOUND", carol: "FORBIDDEN" },
  "app/workflows/actions.ts#shareWorkflow": { args: (ids) => [ids.workflowId, `mallory-${tag}@example.com`, "edit"], bob: "NOT_FOUND", carol: "FORBIDDEN" },
  // Users are the admins'.
  "app/settings/actions.ts#createUser": { args: () => [{ email: `mallory-${tag}@example.com`, role: "admin", password: "mallory-password-1" }], bob: "FORBIDDEN", carol: "FORBIDDEN" },
  "app/settings/actions.ts#changeUserRole": { args: () => ["local", "viewer"], bob: "FORBIDDEN", carol: "FORBIDDEN" },
  "app/settings/actions.ts#removeUser": { args: () => ["local"], bob: "FORBIDDEN", carol: "FORBIDDEN" },
  // Tokens and secrets are each user's own: no argument names another user's (a token id not theirs is not found).
  "app/settings/actions.ts#createApiToken": { args: () => [""], bob: "INVALID_REQUEST", carol: "INVALID_REQUEST" },
  "app/settings/actions.ts#revokeApiToken": { args: () => ["tok_not-theirs"], bob: "NOT_FOUND", carol: "NOT_FOUND" },
  "app/settings/actions.ts#saveSecret": { args: () => [{ name: "not a name", value: "value" }], bob: "INVALID_REQUEST", carol: "INVALID_REQUEST" },
  "app/settings/actions.ts#removeSecret": { args: () => [{ name: "ALICE_KEY" }], bob: "NOT_FOUND", carol: "NOT_FOUND" },
  // First-run setup: open only while there is no owner; after that nobody claims it.
  "app/sign-in/actions.ts#setUpOwner": { args: () => [{ email: `mallory-${tag}@example.com`, password: "mallory-password-1" }], anonymous: "CONFLICT", bob: "CONFLICT", carol: "CONFLICT" },
};

function expectAnswer(answer: ActionAnswer, expected: Expect, ids: Ids, label: string) {
  expect("result" in answer, `${label}: ${describeValue(answer)}`).toBe(true);
  const result = (answer as { result: Record<string, unknown> }).result;
  if (expected === "ok") expect(result.ok, `${label}: ${describeValue(result)}`).toBe(true);
  else expect(result, label).toMatchObject({ ok: false, code: expected, message: expect.any(String) });
  // An answer never carries alice's hook credentials or session, whoever asks.
  for (const secret of [ids.hookToken, ids.hookSecret, ids.aliceSession]) expect(JSON.stringify(result).includes(secret), `${label} leaks a secret`).toBe(false);
}

// ---------------------------------------------------------------------------------------------------------------
// Socket events (lib/realtime/events.ts CLIENT_EVENTS).

type Client = Socket<ServerToClientEvents, ClientToServerEvents>;
type SocketRule =
  | { kind: "ack"; payload: (ids: Ids) => Record<string, unknown>; bob: { ok: false; error: string }; carol: "ok" }
  /** No answer (leaving a room): bob leaving one of alice's rooms must not touch alice's follow. */
  | { kind: "leave"; payload: (ids: Ids) => Record<string, unknown> };

const SOCKET_EVENTS: Record<(typeof CLIENT_EVENTS)[number], SocketRule> = {
  "run:subscribe": { kind: "ack", payload: (ids) => ({ runId: ids.runId }), bob: { ok: false, error: "run not found" }, carol: "ok" },
  "workflow:watch": { kind: "ack", payload: (ids) => ({ workflowId: ids.workflowId }), bob: { ok: false, error: "workflow not found" }, carol: "ok" },
  "run:unsubscribe": { kind: "leave", payload: (ids) => ({ runId: ids.runId }) },
  "workflow:unwatch": { kind: "leave", payload: (ids) => ({ workflowId: ids.workflowId }) },
};

const sockets: Client[] = [];
async function socketAs(base: string, cookie?: string): Promise<Client> {
  const socket: Client = connect(base, { transports: ["websocket"], forceNew: true, reconnection: false, ...(cookie ? { extraHeaders: { cookie } } : {}) });
  sockets.push(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", () => resolve());
    socket.once("connect_error", reject);
  });
  return socket;
}

// ---------------------------------------------------------------------------------------------------------------
// Setting the scene: users from the CLI, sign-in through Better Auth's endpoint, alice's objects through actions.

/** Request contexts start from the project's storage state (the owner's session): these start from none. */
const NO_SESSION = { cookies: [], origins: [] };

function cli(args: string[], stdin = ""): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_BIN, ...args], { env: cliEnv });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.on("close", (code) => (code === 0 ? resolve(out) : reject(new Error(`orchestrator ${args.join(" ")} exited ${code}: ${err}`))));
    child.stdin.end(stdin);
  });
}

async function addUser(base: string, name: string, role: "editor" | "viewer"): Promise<User> {
  const email = `${name}-${tag}@example.com`;
  const password = `${name}-password-1`;
  await cli(["users", "add", email, "--role", role], `${password}\n`);
  const { token } = JSON.parse(await cli(["tokens", "create", "--user", email, "--name", "matrix", "--json"])) as { token: string };
  const anonymous = await newRequest.newContext({ baseURL: base, storageState: NO_SESSION });
  const signIn = await anonymous.post("/api/auth/sign-in/email", { data: { email, password }, headers: { origin: base } });
  expect(signIn.status(), await signIn.text()).toBe(200);
  const cookie = signIn
    .headersArray()
    .filter((h) => h.name.toLowerCase() === "set-cookie")
    .map((h) => h.value.split(";")[0])
    .join("; ");
  const { user, token: session } = (await signIn.json()) as { user: { id: string }; token: string };
  await anonymous.dispose();
  const web = await newRequest.newContext({ baseURL: base, storageState: NO_SESSION, extraHTTPHeaders: { cookie } });
  return Object.assign({ email, id: user.id, web, cookie, token }, { session });
}

const action = (actions: BuiltAction[], key: string) => actions.find((a) => a.key === key) ?? (() => { throw new Error(`no action ${key} in the build`); })();

async function ok(answer: ActionAnswer): Promise<Record<string, unknown>> {
  expect("result" in answer && answer.result.ok, describeValue(answer)).toBe(true);
  return (answer as { result: Record<string, unknown> }).result;
}

/** One column of one row, read with a read-only connection of its own. */
function readRow<T>(sql: string, ...params: unknown[]): T | undefined {
  const db = new Database(dbFile, { readonly: true });
  try {
    return db.prepare(sql).get(...params) as T | undefined;
  } finally {
    db.close();
  }
}

const runStatus = (runId: string) => readRow<{ status: string }>(`SELECT "status" FROM "Run" WHERE "id" = ?`, runId)?.status;

/**
 * Until no run is queued or running: an accepted call of a property test (a valid run, fork or webhook) starts a
 * run that goes on writing after the answer, and the next case's snapshot must not count those writes as its own.
 */
async function runsSettled() {
  await expect.poll(() => readRow<{ n: number }>(`SELECT COUNT(*) AS "n" FROM "Run" WHERE "status" IN ('queued', 'running')`)!.n, { timeout: 30_000 }).toBe(0);
}

async function waitForStatus(runId: string, status: string) {
  await expect.poll(() => runStatus(runId), { timeout: 20_000 }).toBe(status);
}

/** The callback URL of the run's wait_webhook step (alice sees it on her run page). */
function callbackPathOf(runId: string): string {
  const row = readRow<{ output: string }>(`SELECT "output" FROM "StepRun" WHERE "runId" = ? AND "stepId" = 'wait'`, runId)!;
  return (JSON.parse(row.output) as { path: string }).path;
}

let context: Context;
// One sign-in per user: a failed test would otherwise start a new worker whose setup signs in again (rate-limited).
test.describe.configure({ mode: "serial" });
let actions: BuiltAction[];
/** Alice's other workflows: a strict input schema with a hook (hostile bodies), and a run at an approval with a form. */
let strict: { workflowId: string; token: string; secret: string; approvalRunId: string };

test.beforeAll(async ({ baseURL }) => {
  test.setTimeout(120_000);
  const base = baseURL!;
  actions = builtActions();
  const [alice, bob, carol] = [await addUser(base, "alice", "editor"), await addUser(base, "bob", "editor"), await addUser(base, "carol", "editor")];
  const workflowId = `matrix-${tag}`;
  const ids = { workflowId, workflowName: `Alice private ${tag}` } as Ids;
  await ok(await callAction(alice.web, action(actions, "app/workflows/actions.ts#saveWorkflow"), [aliceDefinition(ids)]));
  await ok(await callAction(alice.web, action(actions, "app/workflows/actions.ts#saveWorkflow"), [{ ...aliceDefinition(ids), description: "v2" }]));
  const hook = await ok(await callAction(alice.web, action(actions, "app/workflows/actions.ts#enableWebhook"), [workflowId]));
  const { schedule } = (await ok(
    await callAction(alice.web, action(actions, "app/workflows/schedule-actions.ts#addSchedule"), [workflowId, { name: "Alice yearly", kind: "cron", cron: "0 9 1 1 *", timezone: "Europe/Berlin" }]),
  )) as { schedule: { id: string } };
  const { runId } = (await ok(await callAction(alice.web, action(actions, "app/workflows/actions.ts#runWorkflow"), [workflowId, {}]))) as { runId: string };
  await waitForStatus(runId, "waiting");
  const { checkpoints } = (await ok(await callAction(alice.web, action(actions, "app/runs/actions.ts#runCheckpoints"), [runId]))) as { checkpoints: Array<{ checkpointId: string }> };
  Object.assign(ids, {
    runId,
    checkpointId: checkpoints[0]!.checkpointId,
    hookToken: hook.token as string,
    hookSecret: hook.secret as string,
    callbackPath: callbackPathOf(runId),
    aliceSession: (alice as User & { session: string }).session,
    scheduleId: schedule.id,
  });
  // Shared with carol to view, through the repository (the same call a share in the app makes).
  const db = await createDb(`file:${dbFile}`);
  await setShare(db, alice.id, workflowId, carol.email, "view");
  await db.$disconnect();

  const strictId = `matrix-strict-${tag}`;
  await ok(
    await callAction(alice.web, action(actions, "app/workflows/actions.ts#saveWorkflow"), [
      {
        id: strictId,
        name: "Strict input",
        input: { type: "object", required: ["name"], properties: { name: { type: "string", maxLength: 20 } }, additionalProperties: false },
        steps: [{ id: "echo", type: "transform", config: { output: "{{ input.name }}" } }],
      },
    ]),
  );
  const strictHook = await ok(await callAction(alice.web, action(actions, "app/workflows/actions.ts#enableWebhook"), [strictId]));
  const approvalId = `matrix-form-${tag}`;
  const form = { type: "object", required: ["code"], properties: { code: { const: "x-7f3a" } } };
  await ok(await callAction(alice.web, action(actions, "app/workflows/actions.ts#saveWorkflow"), [{ id: approvalId, name: "Form", steps: [{ id: "ok", type: "approval", config: { message: "ok?", form } }] }]));
  const approval = (await ok(await callAction(alice.web, action(actions, "app/workflows/actions.ts#runWorkflow"), [approvalId, {}]))) as { runId: string };
  await waitForStatus(approval.runId, "waiting");
  strict = { workflowId: strictId, token: strictHook.token as string, secret: strictHook.secret as string, approvalRunId: approval.runId };
  context = { base, anonymous: await newRequest.newContext({ baseURL: base, storageState: NO_SESSION }), alice, bob, carol, ids };
});

test.afterAll(async () => {
  for (const socket of sockets) socket.close();
  for (const client of [context?.anonymous, context?.alice.web, context?.bob.web, context?.carol.web]) await client?.dispose();
});

// ---------------------------------------------------------------------------------------------------------------

test("every page, route, action and socket event of the build has an entry in the matrix (and every entry is in the build)", () => {
  const routes = builtRoutes();
  const pages = routes.filter((r) => r.kind === "page").map((r) => r.route);
  const handlers = routes.filter((r) => r.kind === "route").map((r) => r.route);
  expect(pages.length).toBeGreaterThan(5); // the manifests were read
  expect(pages.filter((route) => !(route in PAGES)), "pages without an entry in PAGES").toEqual([]);
  expect(handlers.filter((route) => !(route in ROUTES)), "route handlers without an entry in ROUTES").toEqual([]);
  const actionKeys = actions.map((a) => a.key);
  expect(actionKeys.filter((key) => !(key in ACTIONS)), "server actions without an entry in ACTIONS").toEqual([]);
  expect(CLIENT_EVENTS.filter((event) => !(event in SOCKET_EVENTS)), "socket events without an entry").toEqual([]);
  // Entries for what the build no longer has would check nothing.
  expect(Object.keys(PAGES).filter((route) => !pages.includes(route))).toEqual([]);
  expect(Object.keys(ROUTES).filter((route) => !handlers.includes(route))).toEqual([]);
  expect(Object.keys(ACTIONS).filter((key) => !actionKeys.includes(key))).toEqual([]);
  console.log(`matrix: ${pages.length} pages, ${handlers.length} route handlers, ${actionKeys.length} server actions, ${CLIENT_EVENTS.length} socket events`);
});

test("pages: anonymous → sign-in, bob → 404 or nothing of alice's, carol sees what is shared with her", async () => {
  test.setTimeout(120_000);
  const before = dbSnapshot(dbFile);
  for (const [route, rule] of Object.entries(PAGES)) await test.step(route, () => checkPage(rule, context));
  expect(changedTables(before, dbSnapshot(dbFile))).toEqual([]);
});

test("route handlers: anonymous and bob are refused; alice's own credentials work", async () => {
  const before = dbSnapshot(dbFile);
  for (const [route, rule] of Object.entries(ROUTES)) await test.step(route, () => rule(context));
  expect(changedTables(before, dbSnapshot(dbFile))).toEqual([]);

  // The controls: the same routes open with alice's own credentials (so the refusals above are about them).
  const { anonymous, ids } = context;
  expect((await anonymous.post(`/api/hooks/${ids.workflowId}/${ids.hookToken}`, { data: "{}" })).status()).toBe(202);
  expect((await anonymous.post(ids.callbackPath, { data: { paid: true } })).status()).toBe(202);
  await waitForStatus(ids.runId, "waiting"); // on to the approval
});

test("server actions: anonymous → UNAUTHORIZED, bob → NOT_FOUND/FORBIDDEN, carol → reads only; nothing is stored", async () => {
  test.setTimeout(120_000);
  const { ids } = context;
  const before = dbSnapshot(dbFile);
  for (const built of actions) {
    const rule = ACTIONS[built.key]!;
    await test.step(built.key, async () => {
      expectAnswer(await callAction(context.anonymous, built, rule.args(ids)), rule.anonymous ?? ("UNAUTHORIZED" as Expect), ids, `anonymous ${built.key}`);
      expectAnswer(await callAction(context.bob.web, built, rule.args(ids)), rule.bob, ids, `bob ${built.key}`);
      expectAnswer(await callAction(context.carol.web, built, rule.args(ids)), rule.carol, ids, `carol ${built.key}`);
      // Bob's API token gets no further than his session.
      expectAnswer(await callAction(context.anonymous, built, rule.args(ids), { headers: { authorization: `Bearer ${context.bob.token}` } }), rule.bob, ids, `bob's token ${built.key}`);
    });
  }
  expect(changedTables(before, dbSnapshot(dbFile))).toEqual([]);
});

test("socket events: anonymous connections refused, bob's follows of alice's run and workflow refused, carol's allowed", async () => {
  const { base, ids } = context;
  await expect(socketAs(base)).rejects.toThrow(/UNAUTHORIZED/);
  await expect(socketAs(base, "better-auth.session_token=forged")).rejects.toThrow(/UNAUTHORIZED/);
  const [alice, bob, carol] = [await socketAs(base, context.alice.cookie), await socketAs(base, context.bob.cookie), await socketAs(base, context.carol.cookie)];
  for (const [event, rule] of Object.entries(SOCKET_EVENTS) as Array<[keyof ClientToServerEvents, SocketRule]>) {
    await test.step(event, async () => {
      if (rule.kind === "ack") {
        const emit = (socket: Client) => (socket.emitWithAck as (e: string, p: unknown) => Promise<unknown>)(event, rule.payload(ids));
        expect(await emit(bob)).toEqual(rule.bob);
        expect(await emit(carol)).toMatchObject({ ok: true });
        expect(await emit(alice)).toMatchObject({ ok: true });
      } else {
        (bob.emit as (e: string, p: unknown) => void)(event, rule.payload(ids));
        // Alice still follows: her subscription answers as before.
        expect(await alice.emitWithAck("run:subscribe", { runId: ids.runId })).toMatchObject({ ok: true });
      }
    });
  }
});

// ---------------------------------------------------------------------------------------------------------------
// Property-based hostile input over HTTP.

const counts: Record<string, number> = {};
/** How the cases ended, per property (so the closing note can say what was exercised, not only how often). */
const outcomes: Record<string, Record<string, number>> = {};
const outcome = (property: string, what: string) => ((outcomes[property] ??= {})[what] = (outcomes[property]![what] ?? 0) + 1);
/** A path segment for any string (a lone surrogate cannot be percent-encoded: its UTF-8 replacement is sent). */
const safeEncode = (segment: string) => encodeURIComponent(segment.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, "\ufffd"));
test.afterAll(() => {
  for (const [name, n] of Object.entries(counts)) console.log(`fast-check: ${n} cases — ${name} (${Object.entries(outcomes[name] ?? {}).map(([what, k]) => `${what}: ${k}`).join(", ")})`);
});

/** A refusal by the action (typed), by proxy.ts (400 JSON), or by React's decoder (an error row with only a digest): never a 500 or a stack. */
function expectCleanRefusal(answer: ActionAnswer, label: string, raw: boolean) {
  expect(answer.status, label).toBeLessThan(500);
  if ("result" in answer) {
    if (answer.result.ok === false) {
      expect(answer.result.code, label).not.toBe("INTERNAL");
      expect(String(answer.result.message).length, label).toBeGreaterThan(0);
    }
  } else if ("error" in answer) {
    expect(raw, `${label}: React refused arguments a browser could send`).toBe(true);
    expect(Object.keys(answer.error)).toEqual(["digest"]);
  } else {
    expect(answer.status, label).toBeGreaterThanOrEqual(400);
    expect(answer.text, label).not.toMatch(/\n\s+at .+:\d+:\d+/);
  }
}

const ACTION_PROPERTY = "server actions (saveWorkflow, checkWorkflow, runWorkflow, estimateRunCost, decideApproval, forkRun, …)";
const HOOK_PROPERTY = "webhook triggers over HTTP";

test("server actions answer hostile arguments with a typed refusal and store nothing (property-based)", async () => {
  test.setTimeout(180_000);
  const { ids, alice } = context;
  const byName = (name: string) => action(actions, `app/${name}`);
  // What a browser (or someone posting by hand) can put in each action's arguments, aimed at alice's own objects.
  const calls = fc.oneof(
    hostileDefinition(strict.workflowId, wireValue).map((definition) => ({ name: "workflows/actions.ts#saveWorkflow", args: [definition] })),
    fc.oneof(hostileDefinition("matrix-check", wireValue), wireValue).map((definition) => ({ name: "workflows/actions.ts#checkWorkflow", args: [definition] })),
    wireValue.map((input) => ({ name: "workflows/actions.ts#runWorkflow", args: [strict.workflowId, input] })),
    fc.tuple(wireValue, wireValue).map((args) => ({ name: "workflows/actions.ts#runWorkflow", args })),
    // Ids far past the 128-character bound (one once came back echoed in a 10 KB message).
    fc.tuple(fc.integer({ min: 129, max: 12_000 }), fc.constantFrom("x", "é", "-"), wireValue).map(([n, c, input]) => ({ name: "workflows/actions.ts#runWorkflow", args: [c.repeat(n), input] })),
    wireValue.map((input) => ({ name: "workflows/actions.ts#estimateRunCost", args: [ids.workflowId, input] })),
    wireValue.map((timeout) => ({ name: "workflows/actions.ts#setWebhookWaitTimeout", args: [ids.workflowId, timeout] })),
    // Aimed at a run waiting at a form no generated data fills in; `approved: false` (a valid rejection) left out.
    wireValue.filter((d) => (d as { approved?: unknown } | null)?.approved !== false).map((decision) => ({ name: "runs/actions.ts#decideApproval", args: [strict.approvalRunId, decision] })),
    fc.record({ approved: wireValue.filter((a) => a !== false), data: wireValue, comment: wireValue }).map((decision) => ({ name: "runs/actions.ts#decideApproval", args: [strict.approvalRunId, decision] })),
    fc.dictionary(fc.oneof(fc.constantFrom("steps.wait", "vars.__proto__", "input", "steps.__proto__.x"), hostileKey), wireValue, { minKeys: 1, maxKeys: 3 }).map((set) => ({ name: "runs/actions.ts#forkRun", args: [ids.runId, ids.checkpointId, set] })),
    fc.tuple(wireValue, wireValue).map((args) => ({ name: "runs/actions.ts#runCheckpointState", args })),
    wireValue.map((id) => ({ name: "runs/actions.ts#cancelRun", args: [id] })),
    fc
      .tuple(fc.constantFrom("runs/actions.ts#deleteRuns", "runs/actions.ts#cancelRuns", "runs/actions.ts#resumeRuns"), fc.oneof(wireValue, fc.array(wireValue, { maxLength: 4 })))
      .map(([name, runIds]) => ({ name, args: [runIds] })),
    fc.tuple(wireValue, wireValue).map((args) => ({ name: "runs/actions.ts#runAgain", args })),
    fc.oneof(wireValue, fc.string({ minLength: 150, maxLength: 5000 })).map((id) => ({ name: "runs/[runId]/actions.ts#runTimeline", args: [id] })),
    // Schedules: hostile fields for a workflow with a strict input schema; hostile ids for the rest.
    fc
      .oneof(
        wireValue,
        fc.record(
          {
            name: fc.oneof(wireValue, fc.string({ minLength: 90, maxLength: 300 })),
            kind: fc.oneof(fc.constantFrom("cron", "interval"), wireValue),
            cron: fc.oneof(fc.constantFrom("0 0 * * * *", "61 * * * *", "* * *", "@reboot", "0 9 * * 1-5"), wireValue),
            timezone: fc.oneof(fc.constantFrom("Mars/Base", "Europe/Berlin", "x".repeat(100)), wireValue),
            everyMinutes: fc.oneof(fc.constantFrom(0, -1, 1.5, 525_601, Number.MAX_SAFE_INTEGER), wireValue),
            input: wireValue,
            missedPolicy: fc.oneof(fc.constantFrom("run_once", "skip", "always"), wireValue),
          },
          { requiredKeys: [] },
        ),
      )
      .map((fields) => ({ name: "workflows/schedule-actions.ts#addSchedule", args: [strict.workflowId, fields] })),
    fc.tuple(fc.oneof(wireValue, fc.string({ minLength: 65, maxLength: 5000 })), wireValue).map((args) => ({ name: "workflows/schedule-actions.ts#editSchedule", args })),
    fc
      .tuple(fc.constantFrom("workflows/schedule-actions.ts#pauseSchedule", "workflows/schedule-actions.ts#resumeSchedule", "workflows/schedule-actions.ts#removeSchedule", "workflows/schedule-actions.ts#workflowSchedules"), wireValue)
      .map(([name, id]) => ({ name, args: [id] })),
  );
  const references = fc.constantFrom('["$1"]', '["$Q0"]', '["$W1"]', '["$B0"]', '["$h0"]', '["$@0"]', '["$K1"]', '["$T"]', '["$i0"]', '["$F0"]', '[{"a":"$1:a:b"}]');
  const raw = fc.record({
    name: fc.constantFrom("workflows/actions.ts#saveWorkflow", "workflows/actions.ts#runWorkflow", "runs/actions.ts#decideApproval"),
    body: fc.oneof(deepJsonText, fc.string({ unit: "binary", maxLength: 200 }), references, fc.constantFrom("{", "", '{"0":1}')),
  });
  // The same as form fields (React's multipart encoding): field "0" holds the arguments, others their parts.
  const form = fc.record({
    name: fc.constantFrom("workflows/actions.ts#saveWorkflow", "workflows/actions.ts#runWorkflow"),
    multipart: fc.record({ "0": fc.oneof(references, fc.string({ unit: "binary", maxLength: 50 }), deepJsonText) }, { requiredKeys: [] }),
  });
  await fc.assert(
    fc.asyncProperty(fc.oneof({ weight: 6, arbitrary: calls }, { weight: 1, arbitrary: raw }, { weight: 1, arbitrary: form }), async (call) => {
      counts[ACTION_PROPERTY] = (counts[ACTION_PROPERTY] ?? 0) + 1;
      const built = byName(call.name);
      await runsSettled();
      const before = dbSnapshot(dbFile);
      const unencoded = "body" in call || "multipart" in call;
      const answer =
        "body" in call ? await callAction(alice.web, built, [], { body: call.body }) : "multipart" in call ? await callAction(alice.web, built, [], { multipart: call.multipart }) : await callAction(alice.web, built, call.args);
      const label = `${call.name} ${describeValue("body" in call ? call.body : "multipart" in call ? call.multipart : call.args)}`;
      outcome(ACTION_PROPERTY, "result" in answer ? (answer.result.ok ? "accepted" : String(answer.result.code)) : "error" in answer ? "decoder refusal" : `HTTP ${answer.status}`);
      expectCleanRefusal(answer, label, unencoded);
      if ("result" in answer && answer.result.ok === true && call.name.endsWith("#addSchedule")) {
        // A valid schedule slipped through: taken away again at once, so it cannot fire during the suite.
        const { schedule } = answer.result as { schedule: { id: string } };
        await ok(await callAction(alice.web, byName("workflows/schedule-actions.ts#removeSchedule"), [schedule.id]));
        return;
      }
      if ("result" in answer && answer.result.ok === true) {
        // Valid arguments may change what they are for (a save, a run, a fork, a timeout); reads never change anything.
        if (/#(saveWorkflow|runWorkflow|forkRun|setWebhookWaitTimeout)$/.test(call.name)) return;
        expect(/#(checkWorkflow|estimateRunCost|runCheckpointState|runTimeline|workflowSchedules)$/.test(call.name), `${label} was accepted`).toBe(true);
      }
      expect(changedTables(before, dbSnapshot(dbFile)), label).toEqual([]);
    }),
    { numRuns: 80 },
  );
  expect(runStatus(strict.approvalRunId)).toBe("waiting"); // still at its approval
});

test("webhook triggers answer hostile bodies, headers and paths with 4xx and a message, and start nothing (property-based)", async () => {
  test.setTimeout(120_000);
  const { anonymous } = context;
  const sign = (body: string) => `sha256=${createHmac("sha256", strict.secret).update(body).digest("hex")}`;
  const hookCase = fc.record({
    target: fc.constantFrom("token", "signed", "wrong-token", "wrong-signature", "other-workflow"),
    body: fc.oneof(
      hostileJson.map((value) => JSON.stringify(value) ?? ""),
      deepJsonText,
      fc.string({ unit: "binary", maxLength: 300 }),
      fc.constantFrom("", "{", "null", '{"name":"way too long a name for the schema"}', '{"__proto__":{"polluted":true}}', "\ufeff{}"),
      fc.integer({ min: 1_048_577, max: 1_200_000 }).map((n) => `"${"x".repeat(n)}"`),
    ),
    contentType: fc.constantFrom("application/json", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/json; charset=utf-7", ""),
    otherId: hostileKey,
    wait: fc.boolean(),
  });
  await fc.assert(
    fc.asyncProperty(hookCase, async ({ target, body, contentType, otherId, wait }) => {
      counts[HOOK_PROPERTY] = (counts[HOOK_PROPERTY] ?? 0) + 1;
      const id = safeEncode(target === "other-workflow" ? otherId || "x" : strict.workflowId);
      const url =
        target === "token" ? `/api/hooks/${id}/${strict.token}` : target === "wrong-token" ? `/api/hooks/${id}/${strict.token.slice(1)}` : `/api/hooks/${id}`;
      const headers: Record<string, string> = { ...(contentType ? { "content-type": contentType } : {}) };
      if (target === "signed") headers["x-orchestrator-signature"] = sign(body);
      if (target === "wrong-signature") headers["x-orchestrator-signature"] = sign(`${body} `);
      await runsSettled();
      const before = dbSnapshot(dbFile);
      const response = await anonymous.post(`${url}${wait ? "?wait=true&timeout=2000" : ""}`, { data: body, headers, maxRedirects: 0 });
      const label = `${target} ${url} ${describeValue(body)}`;
      outcome(HOOK_PROPERTY, `HTTP ${response.status()}`);
      expect(response.status(), label).toBeLessThan(500);
      const text = await response.text();
      expect(text, label).not.toMatch(/\n\s+at .+:\d+:\d+/);
      if (response.status() >= 400) {
        if ((response.headers()["content-type"] ?? "").includes("json")) expect((JSON.parse(text) as { error: { message: string } }).error.message.length, label).toBeGreaterThan(0);
        expect(changedTables(before, dbSnapshot(dbFile)), label).toEqual([]);
      } else {
        expect(["token", "signed"], `${label} started a run`).toContain(target);
      }
    }),
    { numRuns: 60 },
  );
});
