import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect, request as requests, test, type APIRequestContext, type APIResponse } from "@playwright/test";
import { V1_ROUTES, v1Path } from "@/lib/api/v1-routes";
import { V1_CONTRACT } from "@/lib/api/v1-schemas";
import { OWNER } from "./fixtures/auth";
import { CLI_BIN, runCli } from "./fixtures/cli-process";
import { GATEWAY } from "./fixtures/server-process";

/**
 * The REST API (/api/v1) and the remote CLI against the real server, with API tokens of real users made by the
 * CLI on the server's data directory: 401 without or with a bad token, CRUD of workflows, runs (waiting for the
 * result, events, cancel, resume, approve), webhooks, another user's objects (404), a viewer (403), the OpenAPI
 * document, bad input (always a 4xx with the field named), the session cookie, and `orchestrator … --server`.
 */

const BASE = `http://127.0.0.1:${process.env.E2E_PORT ?? 3100}`;
const dataDir = process.env.E2E_DATA_DIR!;
const serverCliEnv = { ...process.env, ORCHESTRATOR_DATA_DIR: dataDir, DATABASE_URL: "", LLM_GATEWAY_URL: `${GATEWAY}/v1`, LLM_API_KEY: "e2e", LOG_LEVEL: "warn" };
const tag = Date.now().toString(36);

/** The admin CLI on the server's machine, with `stdin` (a password) piped in. */
function adminCli(args: string[], stdin = ""): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_BIN, ...args], { env: serverCliEnv, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

async function tokenFor(email: string): Promise<string> {
  const created = await adminCli(["tokens", "create", "--user", email, "--name", `api e2e ${tag}`, "--json"]);
  expect(created.code, created.stderr).toBe(0);
  return JSON.parse(created.stdout).token;
}

async function addUser(email: string, role: string) {
  const added = await adminCli(["users", "add", email, "--role", role], "a-long-password-1\n");
  expect(added.code, added.stderr).toBe(0);
}

const users = { editor: `editor-${tag}@example.com`, other: `other-${tag}@example.com`, viewer: `viewer-${tag}@example.com` };
const tokens: Record<"owner" | "editor" | "other" | "viewer", string> = { owner: "", editor: "", other: "", viewer: "" };
const clients: Partial<Record<keyof typeof tokens | "anonymous", APIRequestContext>> = {};

/** A client with no cookies (the suite's default request context is signed in as the owner) and maybe a token. */
const client = (authorization?: string) =>
  requests.newContext({ baseURL: BASE, storageState: { cookies: [], origins: [] }, extraHTTPHeaders: authorization ? { authorization } : {} });

test.beforeAll(async () => {
  test.setTimeout(120_000);
  await addUser(users.editor, "editor");
  await addUser(users.other, "editor");
  await addUser(users.viewer, "viewer");
  tokens.owner = await tokenFor(OWNER.email);
  tokens.editor = await tokenFor(users.editor);
  tokens.other = await tokenFor(users.other);
  tokens.viewer = await tokenFor(users.viewer);
  for (const who of ["owner", "editor", "other", "viewer"] as const) clients[who] = await client(`Bearer ${tokens[who]}`);
  clients.anonymous = await client();
});
test.afterAll(async () => {
  for (const c of Object.values(clients)) await c?.dispose();
});

const api = (who: keyof typeof clients) => clients[who]!;

/** The answer's JSON after checking its status; refusals have the one error shape. */
async function expectJson(response: APIResponse, status: number): Promise<any> {
  const text = await response.text();
  expect(response.status(), `${response.url()} → ${text.slice(0, 500)}`).toBe(status);
  const body = JSON.parse(text);
  if (status >= 400) {
    expect(body).toEqual({ error: expect.objectContaining({ code: expect.any(String), message: expect.any(String) }) });
    expect(text).not.toMatch(/\n\s+at /); // never a stack trace
  }
  return body;
}

const greeter = (id: string) => ({
  id,
  name: `Greeter ${id}`,
  input: { type: "object", properties: { name: { type: "string" } }, required: ["name"] },
  steps: [{ id: "greet", type: "transform", config: { output: "hello {{ input.name }}" } }],
});

const approvalFlow = (id: string) => ({
  id,
  name: `Approval ${id}`,
  steps: [
    { id: "review", type: "approval", config: { message: "ok?", form: { type: "object", properties: { note: { type: "string" } } } } },
    { id: "after", type: "transform", config: { output: "noted {{ steps.review.data.note }}" } },
  ],
});

async function createWorkflow(who: keyof typeof clients, definition: { id: string }) {
  return expectJson(await api(who).post("/api/v1/workflows", { data: definition }), 201);
}

test("no token, a bad one or a malformed header: 401 on every route, with the error shape and WWW-Authenticate", async () => {
  const bad = await client("Bearer orc_not-a-real-token");
  const malformed = await client("Basic b3duZXI6cGFzcw==");
  try {
    for (const route of V1_ROUTES) {
      const url = v1Path(route, { id: "wf_x", runId: "run_x" });
      for (const c of [api("anonymous"), bad, malformed]) {
        const response = await c.fetch(url, { method: route.method, data: route.method === "GET" || route.method === "DELETE" ? undefined : {} });
        const body = await expectJson(response, 401);
        expect(body.error.code).toBe("UNAUTHORIZED");
        expect(response.headers()["www-authenticate"]).toContain("Bearer");
      }
    }
    expect((await api("anonymous").get("/api/v1/no/such/route")).status()).toBe(401);
    expect((await expectJson(await api("editor").get("/api/v1/no/such/route"), 404)).error.code).toBe("NOT_FOUND");
  } finally {
    await bad.dispose();
    await malformed.dispose();
  }
});

test("workflows: create, list, read, update (new version), refuse bad definitions by field, delete", async () => {
  const id = `api-crud-${tag}`;
  expect(await createWorkflow("editor", greeter(id))).toEqual({ workflowId: id, version: 1 });
  expect((await expectJson(await api("editor").post("/api/v1/workflows", { data: greeter(id) }), 409)).error.code).toBe("CONFLICT");

  const list = await expectJson(await api("editor").get("/api/v1/workflows"), 200);
  V1_CONTRACT.listWorkflows.responses[200].schema.parse(list);
  expect(list.workflows).toContainEqual(expect.objectContaining({ id, name: `Greeter ${id}`, latestVersion: 1, mine: true }));

  const one = await expectJson(await api("editor").get(`/api/v1/workflows/${id}`), 200);
  V1_CONTRACT.getWorkflow.responses[200].schema.parse(one);
  expect(one).toMatchObject({ id, version: 1, access: "edit", definition: { id, steps: [{ id: "greet", type: "transform" }] } });

  const changed = { ...greeter(id), name: "Greeter, renamed" };
  expect(await expectJson(await api("editor").put(`/api/v1/workflows/${id}`, { data: changed }), 200)).toEqual({ workflowId: id, version: 2 });
  expect(await expectJson(await api("editor").get(`/api/v1/workflows/${id}?version=1`), 200)).toMatchObject({ version: 1, definition: { name: `Greeter ${id}` } });
  expect(await expectJson(await api("editor").get(`/api/v1/workflows/${id}`), 200)).toMatchObject({ version: 2, versions: [{ version: 2 }, { version: 1 }] });

  const badStep = await expectJson(await api("editor").put(`/api/v1/workflows/${id}`, { data: { ...greeter(id), steps: [{ id: "x", type: "no-such-kind", config: {} }] } }), 400);
  expect(badStep.error.code).toBe("INVALID_DEFINITION");
  expect(badStep.error.issues).toContainEqual(expect.objectContaining({ stepId: "x" }));
  const otherId = await expectJson(await api("editor").put(`/api/v1/workflows/${id}`, { data: greeter(`${id}-b`) }), 400);
  expect(otherId.error.issues).toEqual([expect.objectContaining({ field: "body.id" })]);
  expect(otherId.error.message).toContain("body.id");
  const noBody = await expectJson(await api("editor").post("/api/v1/workflows"), 400);
  expect(noBody.error.message).toContain("body: required");
  expect((await expectJson(await api("editor").get(`/api/v1/workflows/${id}?version=9`), 404)).error.message).toContain("no version 9");
  expect((await expectJson(await api("editor").get(`/api/v1/workflows/${id}?versoin=1`), 400)).error.message).toContain("query.versoin: unknown field");

  expect(await expectJson(await api("editor").delete(`/api/v1/workflows/${id}`), 200)).toEqual({ workflowId: id, deleted: true });
  await expectJson(await api("editor").get(`/api/v1/workflows/${id}`), 404);
  await expectJson(await api("editor").delete(`/api/v1/workflows/${id}`), 404);
});

test("runs: ?wait=true answers with the outputs, runs are listed with source api, events page after a seq", async () => {
  const id = `api-runs-${tag}`;
  await createWorkflow("editor", greeter(id));
  const waited = await expectJson(await api("editor").post(`/api/v1/workflows/${id}/runs?wait=true`, { data: { name: "ada" } }), 200);
  V1_CONTRACT.startRun.responses[200].schema.parse(waited);
  expect(waited).toEqual({ runId: expect.stringMatching(/^run_/), status: "succeeded", outputs: { greet: "hello ada" } });

  const queued = await expectJson(await api("editor").post(`/api/v1/workflows/${id}/runs`, { data: { name: "bo" } }), 202);
  expect(queued).toEqual({ runId: expect.stringMatching(/^run_/), status: "queued" });
  const invalid = await expectJson(await api("editor").post(`/api/v1/workflows/${id}/runs`, { data: { name: 5 } }), 400);
  expect(invalid.error.code).toBe("INVALID_INPUT");
  expect(JSON.stringify(invalid.error.issues)).toContain("input.name");

  await expect(async () => {
    const run = await expectJson(await api("editor").get(`/api/v1/runs/${queued.runId}`), 200);
    expect(run.status).toBe("succeeded");
  }).toPass({ timeout: 15_000 });
  const run = await expectJson(await api("editor").get(`/api/v1/runs/${waited.runId}`), 200);
  V1_CONTRACT.getRun.responses[200].schema.parse(run);
  expect(run).toMatchObject({ runId: waited.runId, workflowId: id, source: "api", status: "succeeded", input: { name: "ada" }, outputs: { greet: "hello ada" }, canControl: true });
  expect(run.steps).toEqual([expect.objectContaining({ stepId: "greet", status: "succeeded", output: "hello ada" })]);

  const listed = await expectJson(await api("editor").get(`/api/v1/runs?workflow=${id}&limit=5`), 200);
  V1_CONTRACT.listRuns.responses[200].schema.parse(listed);
  expect(listed.runs.map((r: { runId: string }) => r.runId).sort()).toEqual([waited.runId, queued.runId].sort());
  expect(listed.runs.every((r: { source: string }) => r.source === "api")).toBe(true);
  expect((await expectJson(await api("editor").get(`/api/v1/runs?workflow=${id}&status=failed`), 200)).runs).toEqual([]);
  expect((await expectJson(await api("editor").get(`/api/v1/runs?workflow=${id}&limit=1`), 200)).runs).toHaveLength(1);

  const events = await expectJson(await api("editor").get(`/api/v1/runs/${waited.runId}/events`), 200);
  V1_CONTRACT.listRunEvents.responses[200].schema.parse(events);
  expect(events.status).toBe("succeeded");
  expect(events.more).toBe(false);
  const seqs = events.events.map((e: { seq: number }) => e.seq);
  expect(seqs).toEqual(seqs.map((_: number, i: number) => i + 1));
  expect(events.lastSeq).toBe(seqs.at(-1));
  expect(events.events).toContainEqual(expect.objectContaining({ type: "step.status", stepId: "greet", status: "succeeded", output: "hello ada" }));
  expect(events.events.at(-1)).toMatchObject({ type: "run.status", status: "succeeded" });
  const after = await expectJson(await api("editor").get(`/api/v1/runs/${waited.runId}/events?after=2`), 200);
  expect(after.events.map((e: { seq: number }) => e.seq)).toEqual(seqs.slice(2));
  const page = await expectJson(await api("editor").get(`/api/v1/runs/${waited.runId}/events?after=1&limit=1`), 200);
  expect(page).toMatchObject({ events: [{ seq: 2 }], lastSeq: 2, more: true });

  for (const [query, field] of [
    ["status=done", "query.status"],
    ["limit=0", "query.limit"],
    ["limit=abc", "query.limit"],
    ["limit=1&limit=2", "query.limit"],
    ["workflow=", "query.workflow"],
    ["colour=red", "query.colour"],
  ]) {
    const refused = await expectJson(await api("editor").get(`/api/v1/runs?${query}`), 400);
    expect(refused.error.issues[0].field, query).toBe(field);
    expect(refused.error.message, query).toContain(field);
  }
  expect((await expectJson(await api("editor").post(`/api/v1/workflows/${id}/runs?wait=maybe`, { data: { name: "x" } }), 400)).error.message).toContain("query.wait");
});

test("approve, cancel and resume a run; decisions are validated by field", async () => {
  const id = `api-approval-${tag}`;
  await createWorkflow("editor", approvalFlow(id));
  const waiting = await expectJson(await api("editor").post(`/api/v1/workflows/${id}/runs?wait=true`), 200);
  expect(waiting).toMatchObject({ status: "waiting" });
  const runId = waiting.runId;

  const notBool = await expectJson(await api("editor").post(`/api/v1/runs/${runId}/approve`, { data: { approved: "yes" } }), 400);
  expect(notBool.error.issues).toEqual([expect.objectContaining({ field: "body.approved", message: "body.approved: true or false" })]);
  const extra = await expectJson(await api("editor").post(`/api/v1/runs/${runId}/approve`, { data: { approve: true } }), 400);
  expect(extra.error.message).toContain("body.approve: unknown field (allowed: approved, data, comment)");
  const longComment = await expectJson(await api("editor").post(`/api/v1/runs/${runId}/approve`, { data: { comment: "x".repeat(2001) } }), 400);
  expect(longComment.error.message).toContain("body.comment: at most 2000 characters");
  const badForm = await expectJson(await api("editor").post(`/api/v1/runs/${runId}/approve`, { data: { data: { note: 5 } } }), 400);
  expect(badForm.error.code).toBe("INVALID_INPUT");

  const approved = await expectJson(await api("editor").post(`/api/v1/runs/${runId}/approve?wait=true`, { data: { approved: true, data: { note: "fine" }, comment: "ok" } }), 200);
  expect(approved).toMatchObject({ runId, status: "succeeded", outputs: { after: "noted fine", review: { approved: true, comment: "ok", decidedBy: expect.any(String) } } });
  expect((await expectJson(await api("editor").post(`/api/v1/runs/${runId}/approve`, { data: {} }), 409)).error.code).toBe("CONFLICT");

  const second = await expectJson(await api("editor").post(`/api/v1/workflows/${id}/runs?wait=true`), 200);
  expect(second.status).toBe("waiting");
  const cancelled = await expectJson(await api("editor").post(`/api/v1/runs/${second.runId}/cancel?wait=true`), 200);
  expect(cancelled).toEqual({ runId: second.runId, status: "cancelled" });
  expect((await expectJson(await api("editor").get(`/api/v1/runs/${second.runId}`), 200)).status).toBe("cancelled");
  // Resumed, the approval step runs again and waits again.
  const resumed = await expectJson(await api("editor").post(`/api/v1/runs/${second.runId}/resume?wait=true`, { data: {} }), 200);
  expect(resumed).toMatchObject({ runId: second.runId, status: "waiting" });
  const both = await expectJson(await api("editor").post(`/api/v1/runs/${second.runId}/resume`, { data: { useLatestVersion: true, checkpointId: "x" } }), 400);
  expect(both.error.issues[0].field).toBe("body.checkpointId");
  const rejected = await expectJson(await api("editor").post(`/api/v1/runs/${second.runId}/approve?wait=true`, { data: { approved: false } }), 200);
  expect(rejected).toMatchObject({ status: "failed", error: { code: "REJECTED" } });
});

test("webhook: enabling returns the token and secret once, and they start runs", async () => {
  const id = `api-hook-${tag}`;
  await createWorkflow("editor", greeter(id));
  const hook = await expectJson(await api("editor").post(`/api/v1/workflows/${id}/webhook`), 201);
  V1_CONTRACT.enableWebhook.responses[201].schema.parse(hook);
  expect(hook).toMatchObject({ token: expect.any(String), secret: expect.any(String), url: expect.stringContaining(`/api/hooks/${id}/`) });
  const triggered = await api("anonymous").post(`/api/hooks/${id}/${hook.token}?wait=true`, { data: { name: "hook" } });
  expect(await expectJson(triggered, 200)).toMatchObject({ status: "succeeded", outputs: { greet: "hello hook" } });
  const rotated = await expectJson(await api("editor").post(`/api/v1/workflows/${id}/webhook`), 201);
  expect(rotated.token).not.toBe(hook.token);
  expect((await api("anonymous").post(`/api/hooks/${id}/${hook.token}`, { data: { name: "old" } })).status()).toBe(401);
});

test("another user's workflows and runs are 404 on every route; a viewer's changes are 403", async () => {
  const id = `api-private-${tag}`;
  await createWorkflow("editor", approvalFlow(id));
  const { runId } = await expectJson(await api("editor").post(`/api/v1/workflows/${id}/runs?wait=true`), 200);

  for (const route of V1_ROUTES) {
    if (!Object.keys(route.params).length) continue;
    const example = route.example as { query?: Record<string, string>; body?: unknown };
    const url = v1Path(route, { id, runId }) + (example.query ? `?${new URLSearchParams(example.query)}` : "");
    const body = route.key === "updateWorkflow" ? approvalFlow(id) : example.body;
    const refused = await expectJson(await api("other").fetch(url, { method: route.method, data: body }), 404);
    expect(refused.error.code, `${route.method} ${route.path}`).toBe("NOT_FOUND");
  }
  expect((await expectJson(await api("other").get("/api/v1/workflows"), 200)).workflows.map((w: { id: string }) => w.id)).not.toContain(id);
  expect((await expectJson(await api("other").get(`/api/v1/runs?workflow=${id}`), 200)).runs).toEqual([]);
  // Nothing changed for the owner of the workflow; the install's owner sees everything.
  expect((await expectJson(await api("editor").get(`/api/v1/runs/${runId}`), 200)).status).toBe("waiting");
  expect((await expectJson(await api("owner").get(`/api/v1/workflows/${id}`), 200)).id).toBe(id);

  const viewerPost = await expectJson(await api("viewer").post("/api/v1/workflows", { data: greeter(`api-viewer-${tag}`) }), 403);
  expect(viewerPost.error).toMatchObject({ code: "FORBIDDEN", message: expect.stringContaining("editor role") });
  for (const route of V1_ROUTES.filter((r) => r.minRole !== "viewer")) {
    const response = await api("viewer").fetch(v1Path(route, { id, runId }), { method: route.method, data: (route.example as { body?: unknown }).body });
    expect((await expectJson(response, 403)).error.code, `${route.method} ${route.path}`).toBe("FORBIDDEN");
  }
  expect(await expectJson(await api("viewer").get("/api/v1/workflows"), 200)).toEqual({ workflows: [] });
  await expectJson(await api("viewer").get(`/api/v1/workflows/${id}`), 404);
  await expectJson(await api("editor").post(`/api/v1/runs/${runId}/cancel`), 200);
});

test("the OpenAPI document lists every route with the bearer scheme and the error shape", async () => {
  await expectJson(await api("anonymous").get("/api/v1/openapi.json"), 401);
  const doc = await expectJson(await api("viewer").get("/api/v1/openapi.json"), 200);
  expect(doc.openapi).toBe("3.1.0");
  const operations = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([p, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${p}`));
  expect(operations.sort()).toEqual(
    [
      "GET /openapi.json",
      "GET /workflows",
      "POST /workflows",
      "GET /workflows/{id}",
      "PUT /workflows/{id}",
      "DELETE /workflows/{id}",
      "POST /workflows/{id}/runs",
      "POST /workflows/{id}/webhook",
      "GET /runs",
      "GET /runs/{runId}",
      "GET /runs/{runId}/events",
      "POST /runs/{runId}/cancel",
      "POST /runs/{runId}/resume",
      "POST /runs/{runId}/approve",
    ].sort(),
  );
  expect(doc.servers).toEqual([{ url: "/api/v1" }]);
  expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: "http", scheme: "bearer" });
  expect(doc.components.schemas.Error.properties.error.required).toEqual(["code", "message"]);
  expect(doc.paths["/runs/{runId}/approve"].post.requestBody.content["application/json"].schema.properties).toHaveProperty("approved");
  expect(doc.paths["/workflows"].post.requestBody.content["application/json"].schema).toEqual({ $ref: "#/components/schemas/WorkflowDefinition" });
  expect(doc.paths["/workflows/{id}"].get.responses["404"]).toEqual({ $ref: "#/components/responses/Error404" });
});

test("bad input is a 4xx naming the problem, never a 500: size, media type, JSON, nesting, ids", async () => {
  const id = `api-hostile-${tag}`;
  await createWorkflow("editor", greeter(id));
  const runs = `/api/v1/workflows/${id}/runs`;
  // Raw bodies go as Buffers: Playwright would encode a string as a JSON string.
  const raw = (text: string) => Buffer.from(text);
  const json = { "content-type": "application/json" };
  const huge = await api("editor").post(runs, { data: raw(JSON.stringify({ name: "x".repeat(1024 * 1024 + 10) })), headers: json });
  expect((await expectJson(huge, 413)).error.code).toBe("PAYLOAD_TOO_LARGE");
  const text = await api("editor").post(runs, { data: raw("name=ada"), headers: { "content-type": "application/x-www-form-urlencoded" } });
  expect((await expectJson(text, 415)).error.message).toContain("Content-Type: application/json");
  const broken = await api("editor").post(runs, { data: raw('{"name": '), headers: json });
  expect((await expectJson(broken, 400)).error.message).toContain("the body is not valid JSON");
  const deep = `${'{"a":'.repeat(5000)}1${"}".repeat(5000)}`;
  const deepInput = await expectJson(await api("editor").post(runs, { data: raw(deep), headers: json }), 400);
  expect(deepInput.error).toMatchObject({ code: "INVALID_INPUT", issues: [expect.objectContaining({ code: "NESTING_LIMIT" })] });
  for (const [method, url] of [["POST", "/api/v1/workflows"], ["PUT", `/api/v1/workflows/${id}`]]) {
    const deepDefinition = await expectJson(await api("editor").fetch(url, { method, data: raw(deep), headers: json }), 400);
    expect(deepDefinition.error.issues, url).toContainEqual(expect.objectContaining({ code: "NESTING_LIMIT" }));
  }
  const deepDecision = await expectJson(await api("editor").post(`/api/v1/runs/run_x/approve`, { data: raw(`{"data":${deep}}`), headers: json }), 400);
  expect(deepDecision.error.message).toContain("data.a.a.a.a…: is nested more than"); // zod left `data` to the decision's own check
  const proto = await api("editor").post(`${runs}?wait=true`, { data: raw('{"name":"p","__proto__":{"polluted":true}}'), headers: json });
  // A prototype key is refused by name (it would change the object's prototype), not silently dropped.
  expect((await expectJson(proto, 400)).error).toMatchObject({ code: "INVALID_INPUT", message: expect.stringContaining('"__proto__" is not allowed as a field name') });
  expect((await expectJson(await api("editor").get(`/api/v1/workflows/${"x".repeat(201)}`), 400)).error.message).toContain("path.id: at most 200 characters");
  expect((await expectJson(await api("editor").get(`/api/v1/runs/${encodeURIComponent("../../etc")}`), 404)).error.code).toBe("NOT_FOUND");
  expect((await api("editor").patch(`/api/v1/workflows/${id}`, { data: {} })).status()).toBe(405);
});

test("a signed-in browser session works too, but not for changes sent from another site", async ({ request }) => {
  // `request` carries the owner's session cookie (the suite's storage state).
  expect((await expectJson(await request.get("/api/v1/workflows"), 200)).workflows).toEqual(expect.any(Array));
  const id = `api-session-${tag}`;
  const crossSite = await request.post("/api/v1/workflows", { data: greeter(id), headers: { origin: "http://evil.example" } });
  expect((await expectJson(crossSite, 403)).error.message).toContain("Bearer");
  expect(await expectJson(await request.post("/api/v1/workflows", { data: greeter(id), headers: { origin: BASE } }), 201)).toEqual({ workflowId: id, version: 1 });
});

test.describe("remote CLI", () => {
  /** The CLI on another machine: its own empty data directory, which a remote command must leave untouched. */
  const home = mkdtempSync(path.join(tmpdir(), "orchestrator-remote-cli-"));
  const remoteEnv = { ...process.env, ORCHESTRATOR_DATA_DIR: path.join(home, "data"), DATABASE_URL: "", LOG_LEVEL: "warn", ORCHESTRATOR_SERVER: "", ORCHESTRATOR_TOKEN: "" };
  const cli = (args: string[], env: Record<string, string> = {}) => runCli(args, { env: { ...remoteEnv, ...env }, cwd: home });
  const remote = (who: keyof typeof tokens) => ["--server", BASE, "--token", tokens[who]];
  const file = (definition: { id: string; [key: string]: unknown }) => {
    const p = path.join(home, `${definition.id}.json`);
    writeFileSync(p, JSON.stringify(definition));
    return p;
  };

  test("run waits for the end and prints like local mode; a bad token or a foreign run exits 2 with the reason", async () => {
    const id = `api-cli-${tag}`;
    const greet = file(greeter(id));
    const human = await cli(["run", greet, ...remote("editor"), "--input", '{"name":"cli"}']);
    expect(human, human.stderr).toMatchObject({ code: 0, stderr: "" });
    expect(human.stdout).toMatch(/^run run_\w+ succeeded\n {2}greet: "hello cli"\n$/);
    const json = await cli(["run", greet, "--json", "--input", '{"name":"env"}'], { ORCHESTRATOR_SERVER: BASE, ORCHESTRATOR_TOKEN: tokens.editor });
    expect(json.code, json.stderr).toBe(0);
    const result = JSON.parse(json.stdout);
    expect(result).toEqual({ runId: expect.stringMatching(/^run_/), status: "succeeded", outputs: { greet: "hello env" } });
    // Run twice, the unchanged file is one saved version; the runs are the API's.
    expect((await expectJson(await api("editor").get(`/api/v1/workflows/${id}`), 200)).versions).toHaveLength(1);
    expect((await expectJson(await api("editor").get(`/api/v1/runs/${result.runId}`), 200)).source).toBe("api");

    const badToken = await cli(["run", greet, "--server", BASE, "--token", "orc_wrong", "--input", '{"name":"x"}']);
    expect(badToken.code).toBe(2);
    expect(badToken.stderr).toMatch(/^error: .*token is unknown, revoked or malformed.*\n$/);
    const badInput = await cli(["run", greet, ...remote("editor"), "--input", '{"name":5}', "--json"]);
    expect(badInput.code).toBe(2);
    expect(JSON.parse(badInput.stdout).error).toMatchObject({ code: "INVALID_INPUT" });
    const foreign = await cli(["run", greet, ...remote("other"), "--input", '{"name":"x"}']);
    expect(foreign.code).toBe(2);
    expect(foreign.stderr).toContain(`workflow id "${id}" is taken`);
    const viewer = await cli(["run", file(greeter(`api-cli-viewer-${tag}`)), ...remote("viewer"), "--input", '{"name":"x"}']);
    expect(viewer.code).toBe(2);
    expect(viewer.stderr).toContain("editor role");
    const foreignRun = await cli(["cancel", result.runId, ...remote("other")]);
    expect(foreignRun).toMatchObject({ code: 2, stderr: `error: run "${result.runId}" not found\n` });

    const failing = await cli(["run", file({ id: `api-cli-fail-${tag}`, name: "fails", steps: [{ id: "ask", type: "llm", config: { prompt: "x", model: "fail-400" } }] }), ...remote("editor")]);
    expect(failing.code).toBe(1);
    expect(failing.stdout).toMatch(/^run run_\w+ failed\n/);
    expect(failing.stdout).toContain('in step "ask"');

    const runs = await cli(["runs", "--workflow", id, "--json", ...remote("editor")]);
    expect(runs.code, runs.stderr).toBe(0);
    expect(JSON.parse(runs.stdout)).toEqual(expect.arrayContaining([expect.objectContaining({ runId: result.runId, workflowId: id, status: "succeeded" })]));
    expect(JSON.parse(runs.stdout)[0]).toEqual({
      runId: expect.any(String),
      workflowId: id,
      status: "succeeded",
      startedAt: expect.any(String),
      finishedAt: expect.any(String),
      trigger: "api",
      durationMs: expect.any(Number),
      costUsd: null,
    });

    const imported = await cli(["import", greet, "--json", ...remote("editor")]);
    expect(imported.code, imported.stderr).toBe(0);
    expect(JSON.parse(imported.stdout)).toEqual({ workflowId: id, version: 2 });
    const fresh = await cli(["import", file(greeter(`api-cli-import-${tag}`)), ...remote("editor")]);
    expect(fresh).toMatchObject({ code: 0, stdout: `api-cli-import-${tag}\n` });

    // No database, no data directory: remote commands never load the runtime.
    expect(readdirSync(home).filter((f) => !f.endsWith(".json"))).toEqual([]);
  });

  test("approve, cancel and resume against the server exit like local mode (3 waiting, 0 done); usage errors exit 2", async () => {
    const id = `api-cli-approval-${tag}`;
    const flow = file(approvalFlow(id));
    const waiting = await cli(["run", flow, "--json", ...remote("editor")]);
    expect(waiting.code, waiting.stderr).toBe(3);
    const { runId } = JSON.parse(waiting.stdout);
    const approved = await cli(["approve", runId, "--data", '{"note":"yes"}', "--comment", "from the cli", ...remote("editor")]);
    expect(approved.code, approved.stderr).toBe(0);
    expect(approved.stdout).toContain(`run ${runId} succeeded`);
    expect(approved.stdout).toContain('after: "noted yes"');

    const second = JSON.parse((await cli(["run", flow, "--json", ...remote("editor")])).stdout).runId;
    expect(await cli(["cancel", second, ...remote("editor")])).toMatchObject({ code: 0, stdout: `run ${second} cancelled\n` });
    const resumed = await cli(["resume", second, "--json", ...remote("editor")]);
    expect(resumed.code, resumed.stderr).toBe(3);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ runId: second, status: "waiting" });
    const rejected = await cli(["approve", second, "--reject", ...remote("editor")]);
    expect(rejected.code).toBe(1);
    expect(rejected.stdout).toContain("REJECTED");

    const usage = [
      [["run", flow, "--server", BASE]], // no token
      [["run", flow, "--token", tokens.editor]], // no server
      [["run", flow, "--server", "ftp://x", "--token", "t"]],
      [["run", flow, ...remote("editor"), "--as", OWNER.email]],
      [["approve", runId, "--by", "someone", ...remote("editor")]],
      [["checkpoints", runId, ...remote("editor")]],
      [["tokens", "create", "--user", OWNER.email, "--name", "x", ...remote("owner")]],
    ] as const;
    for (const [args] of usage) {
      const res = await cli([...args]);
      expect(res.code, args.join(" ")).toBe(2);
      expect(res.stderr, args.join(" ")).toMatch(/^error: [^\n]+\n$/);
    }
    // validate stays local: no server is asked (the token is not even checked).
    expect(await cli(["validate", flow, "--server", BASE, "--token", "orc_wrong"])).toMatchObject({ code: 0, stdout: "valid\n" });
    const unreachable = await cli(["runs", "--server", "http://127.0.0.1:9", "--token", "orc_x"]);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toContain("cannot reach the server");
    expect(readdirSync(home).filter((f) => !f.endsWith(".json"))).toEqual([]);
  });
});
