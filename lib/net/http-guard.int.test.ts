import { request as httpRequest, createServer, type Server } from "node:http";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { io as connect } from "socket.io-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestRunner, sqliteTestDatabase } from "@/e2e/fixtures/databases";
import { actorById } from "@/lib/auth/access";
import { createAuth } from "@/lib/auth/auth";
import { createToken } from "@/lib/auth/users";
import { attachRealtime } from "@/lib/realtime/server";
import { enableHook } from "@/lib/webhooks/hooks";
import { serveHook } from "@/lib/webhooks/http";
import { validateWorkflow } from "@/lib/workflow/validate";
import { saveWorkflowVersion } from "@/lib/workflows/repository";
import { createRequestGuard } from "./http-guard";

/**
 * The guard as server.ts puts it in front of everything: a real HTTP server with the webhook fast path, the realtime
 * server and, for what Next would answer, a stand-in that says it was reached. Real runner and SQLite.
 */
let harness: Awaited<ReturnType<typeof openTestRunner>>;
let server: Server;
let port: number;
let hookPath: string;
let closeRealtime: () => void;
/** An API token of the owner: sockets are a user's (the session check after the handshake). */
let token: string;
const savedDir = process.env.ORCHESTRATOR_DATA_DIR;

beforeAll(async () => {
  process.env.ORCHESTRATOR_DATA_DIR = mkdtempSync(path.join(tmpdir(), "http-guard-"));
  harness = await openTestRunner(sqliteTestDatabase());
  const { definition } = validateWorkflow({ id: "guarded", name: "Guarded", steps: [{ id: "echo", type: "transform", config: { output: "{{ input.name }}" } }] });
  await saveWorkflowVersion(harness.db, harness.userId, definition!);
  hookPath = (await enableHook(harness.db, harness.userId, "guarded")).path;

  const guard = createRequestGuard({
    ORCHESTRATOR_ALLOWED_HOSTS: "orchestrator.example.com,10.1.2.3:8080",
    // Small windows, so the limits are reached and recover within the test.
    ORCHESTRATOR_RATE_LIMIT_HOOK_WORKFLOW: "3/2s",
    ORCHESTRATOR_RATE_LIMIT_HOOK_CLIENT: "100/2s",
    ORCHESTRATOR_RATE_LIMIT_API: "2/2s",
    ORCHESTRATOR_RATE_LIMIT_ACTIONS: "2/2s",
  });
  const { db, sql, runner } = harness;
  server = createServer((req, res) => {
    const go = () => {
      if (!serveHook(req, res, async () => ({ db, sql, runner }))) res.writeHead(200, { "x-handled-by": "next" }).end("page");
    };
    const allowed = guard.check(req, res);
    if (allowed === true) go();
    else if (allowed !== false) void allowed.then((ok) => ok && go());
  });
  const auth = createAuth(harness.db);
  const { io } = attachRealtime(server, async () => ({ ...harness, auth }), { allowRequest: guard.allowRealtime });
  token = (await createToken(harness.db, await actorById(harness.db, harness.userId), harness.userId, "guard tests")).token;
  closeRealtime = () => void io.close();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as { port: number }).port;
});
afterAll(async () => {
  closeRealtime();
  await harness.close();
  process.env.ORCHESTRATOR_DATA_DIR = savedDir;
});

/** A request with the headers as given (fetch would set Host itself). */
function send(method: string, url: string, headers: Record<string, string>, body?: string) {
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>((resolve, reject) => {
    const req = httpRequest({ host: "127.0.0.1", port, method, path: url, headers: { ...(body !== undefined ? { "content-type": "application/json" } : {}), ...headers } }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (text += chunk));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("only known hosts (DNS rebinding)", () => {
  it("answers 421 naming ORCHESTRATOR_ALLOWED_HOSTS to a foreign Host: pages, action calls and webhooks (before the fast path)", async () => {
    for (const [method, url, headers, body] of [
      ["GET", "/", {}, undefined],
      ["POST", "/workflows/x", { "next-action": "40abc" }, "[]"],
      ["POST", `${hookPath}?wait=true`, {}, '{"name":"ada"}'],
    ] as const) {
      const answer = await send(method, url, { host: "attacker.example:3000", ...headers }, body);
      expect(answer.status, `${method} ${url}`).toBe(421);
      expect(answer.headers["x-handled-by"]).toBeUndefined();
      const { error } = JSON.parse(answer.body);
      expect(error.code).toBe("HOST_NOT_ALLOWED");
      expect(error.message).toContain("ORCHESTRATOR_ALLOWED_HOSTS");
      expect(answer.headers["x-content-type-options"]).toBe("nosniff");
    }
    // The refused trigger started no run.
    expect(await harness.db.run.count()).toBe(0);
  });

  it("serves loopback names on any port, the configured names, and a configured port only on that port", async () => {
    for (const host of [`127.0.0.1:${port}`, "localhost:1234", "[::1]:9", "LOCALHOST", "orchestrator.example.com", "orchestrator.example.com.:443", "10.1.2.3:8080"])
      expect((await send("GET", "/", { host })).headers["x-handled-by"], host).toBe("next");
    for (const host of ["10.1.2.3:8081", "10.1.2.3", "evil.orchestrator.example.com", "orchestrator.example.com@evil", "127.0.0.1.nip.io"])
      expect((await send("GET", "/", { host })).status, host).toBe(421);
    const hook = await send("POST", `${hookPath}?wait=true`, { host: "orchestrator.example.com" }, '{"name":"ada"}');
    expect(hook.status).toBe(200);
    expect(JSON.parse(hook.body)).toMatchObject({ status: "succeeded", outputs: { echo: "ada" } });
  });

  it("refuses a Socket.IO handshake with a foreign Host or a foreign browser Origin, and lets same-host pages and clients without Origin in", async () => {
    const handshake = (headers: Record<string, string>) => send("GET", "/socket.io/?EIO=4&transport=polling", headers);
    const foreignHost = await handshake({ host: "attacker.example" });
    expect(foreignHost.status).toBe(403);
    expect(foreignHost.body).toContain("ORCHESTRATOR_ALLOWED_HOSTS");
    for (const origin of ["http://attacker.example", `http://attacker.example:${port}`, "null", "file://", "http://10.1.2.3:9999"]) {
      const refused = await handshake({ host: `127.0.0.1:${port}`, origin });
      expect(refused.status, origin).toBe(403);
    }
    for (const origin of [`http://127.0.0.1:${port}`, "https://orchestrator.example.com", "http://10.1.2.3:8080"])
      expect((await handshake({ host: `127.0.0.1:${port}`, origin })).status, origin).toBe(200);
    expect((await handshake({ host: `127.0.0.1:${port}` })).status).toBe(200);

    // Over WebSocket, as the browser connects: the upgrade with a foreign Origin fails even with a valid token; the
    // app's own page and a client without Origin connect.
    const connects = (extraHeaders: Record<string, string>) =>
      new Promise<boolean>((resolve) => {
        const socket = connect(`http://127.0.0.1:${port}`, { transports: ["websocket"], forceNew: true, reconnection: false, extraHeaders, auth: { token } });
        socket.on("connect", () => (socket.close(), resolve(true)));
        socket.on("connect_error", () => (socket.close(), resolve(false)));
      });
    expect(await connects({ origin: "http://attacker.example" })).toBe(false);
    expect(await connects({ origin: `http://localhost:${port}` })).toBe(true);
    expect(await connects({})).toBe(true);
  });
});

describe("rate limits", () => {
  it("refuses webhook calls of one workflow past the limit with 429 RATE_LIMITED and Retry-After, then takes them again", async () => {
    await sleep(2100); // a fresh window
    const call = () => send("POST", hookPath, { host: `127.0.0.1:${port}` }, '{"name":"bo"}');
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await call());
    expect(answers.map((a) => a.status)).toEqual([202, 202, 202, 429]);
    const refused = answers[3];
    expect(JSON.parse(refused.body).error).toMatchObject({ code: "RATE_LIMITED" });
    expect(JSON.parse(refused.body).error.message).toMatch(/too many webhook calls for this workflow \(at most 3\/2s\): try again in [12] s/);
    const retryAfter = Number(refused.headers["retry-after"]);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(2);
    await sleep(retryAfter * 1000 + 100);
    expect((await call()).status).toBe(202);
  });

  it("limits /api/* and action calls per client address, and never pages", async () => {
    await sleep(2100);
    const callback = () => send("POST", "/api/callbacks/r/s/1/t", { host: "localhost" }, "{}");
    expect((await callback()).status).not.toBe(429);
    expect((await callback()).status).not.toBe(429);
    const third = await callback();
    expect(third.status).toBe(429);
    expect(JSON.parse(third.body).error.message).toContain("API requests from this address");

    const action = () => send("POST", "/workflows/x", { host: "localhost", "next-action": "40abc" }, "[]");
    expect((await action()).status).toBe(200);
    expect((await action()).status).toBe(200);
    expect((await action()).status).toBe(429);
    for (let i = 0; i < 10; i++) expect((await send("GET", "/workflows/x", { host: "localhost" })).status).toBe(200);
    await sleep(2100);
    expect((await action()).status).toBe(200);
  });
});
