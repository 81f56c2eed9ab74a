import { createServer, type Server } from "node:http";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sqliteTestDatabase, type TestDatabase } from "@/e2e/fixtures/databases";
import { SqlCheckpointSaver } from "@/lib/checkpoint/sql-saver";
import { createDb, ensureLocalUser, type Db } from "@/lib/db";
import { openSql, type SqlConnection } from "@/lib/db/sql";
import { Runner } from "@/lib/runner/runner";
import { validateWorkflow } from "@/lib/workflow/validate";
import { saveWorkflowVersion } from "@/lib/workflows/repository";
import { enableHook, signedHeaders } from "./hooks";
import { MAX_HOOK_BODY_BYTES, parseHookPath, serveHook } from "./http";

/** The trigger as server.ts serves it, before Next: a real HTTP server, runner and SQLite. */
let database: TestDatabase;
let db: Db;
let sql: SqlConnection;
let runner: Runner;
let server: Server;
let base: string;
const savedDir = process.env.ORCHESTRATOR_DATA_DIR;

beforeAll(async () => {
  process.env.ORCHESTRATOR_DATA_DIR = mkdtempSync(path.join(tmpdir(), "hooks-http-"));
  database = sqliteTestDatabase();
  db = await createDb(database.url);
  sql = openSql(database.url);
  const userId = await ensureLocalUser(db);
  runner = new Runner({ db, sql, checkpointer: new SqlCheckpointSaver(sql), concurrency: 2 });
  const { definition } = validateWorkflow({
    id: "shout",
    name: "Shout",
    steps: [
      { id: "greet", type: "transform", config: { output: { greeting: "hi {{ input.name }}" } } },
      { id: "loud", type: "transform", config: { output: "{{ $uppercase(steps.greet.greeting) }}" } },
    ],
  });
  await saveWorkflowVersion(db, userId, definition!);
  // Whatever is not a trigger goes on to the framework; here a stand-in that says so.
  server = createServer((req, res) => {
    if (!serveHook(req, res, async () => ({ db, sql, runner }))) res.writeHead(404, { "x-handled-by": "next" }).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await runner.drain();
  await db.$disconnect();
  await sql.close();
  await database.drop();
  process.env.ORCHESTRATOR_DATA_DIR = savedDir;
});

const post = (url: string, body: string, headers: Record<string, string> = {}) =>
  fetch(`${base}${url}`, { method: "POST", body, headers: { "content-type": "application/json", ...headers } });

describe("webhook trigger served before Next", () => {
  it("runs the workflow and answers with its result (token in the path or signature), as the route does", async () => {
    const { path: hookPath, secret } = await enableHook(db, "local", "shout");
    const answer = await post(`${hookPath}?wait=true`, '{"name":"ada"}');
    expect(answer.status).toBe(200);
    expect(answer.headers.get("content-type")).toBe("application/json");
    expect(await answer.json()).toMatchObject({ status: "succeeded", outputs: { loud: "HI ADA" } });

    const queued = await post(hookPath, '{"name":"bo"}');
    expect(queued.status).toBe(202);
    const { runId } = (await queued.json()) as { runId: string };
    expect(await runner.waitForRun(runId)).toMatchObject({ status: "succeeded", outputs: { loud: "HI BO" } });

    const body = '{"name":"cy"}';
    const headers = signedHeaders(secret, body);
    const signed = await post("/api/hooks/shout?wait=true", body, headers);
    expect(await signed.json()).toMatchObject({ outputs: { loud: "HI CY" } });
    // The same signed request again is a replay.
    const replayed = await post("/api/hooks/shout?wait=true", body, headers);
    expect(replayed.status).toBe(409);
    expect(await replayed.json()).toMatchObject({ error: { code: "WEBHOOK_REPLAYED" } });

    // An Idempotency-Key (header, as server.ts reads it) returns the first run, token URL or signed.
    const keyed = await post(hookPath, '{"name":"di"}', { "idempotency-key": "order-1" });
    const again = await post(hookPath, '{"name":"di"}', { "idempotency-key": "order-1" });
    const signedAgain = await post("/api/hooks/shout", '{"name":"di"}', { ...signedHeaders(secret, '{"name":"di"}'), "idempotency-key": "order-1" });
    const first = (await keyed.json()) as { runId: string };
    expect([keyed.status, again.status, signedAgain.status]).toEqual([202, 202, 202]);
    expect(await again.json()).toMatchObject({ runId: first.runId });
    expect(await signedAgain.json()).toMatchObject({ runId: first.runId });
    const stale = await post("/api/hooks/shout", body, signedHeaders(secret, body, Math.floor(Date.now() / 1000) - 600));
    expect(stale.status).toBe(401);
    expect(await stale.json()).toMatchObject({ error: { code: "WEBHOOK_TIMESTAMP", message: expect.stringMatching(/X-Orchestrator-Timestamp/) } });
  });

  it("refuses wrong credentials, bad JSON and oversized bodies with the routes' answers", async () => {
    const { path: hookPath } = await enableHook(db, "local", "shout");
    const wrong = await post("/api/hooks/shout/not-the-token", "{}");
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toMatchObject({ error: { code: "UNAUTHORIZED" } });
    expect((await post("/api/hooks/shout", "{}")).status).toBe(401);
    const bad = await post(hookPath, "{not json");
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { code: "INVALID_INPUT" } });
    const big = await post(hookPath, JSON.stringify({ pad: "x".repeat(MAX_HOOK_BODY_BYTES) }));
    expect(big.status).toBe(413);
    expect(await big.json()).toMatchObject({ error: { code: "PAYLOAD_TOO_LARGE" } });
    // A body streamed without a declared length is cut at the cap too.
    const chunks = new ReadableStream({
      start(controller) {
        for (let i = 0; i < 3; i++) controller.enqueue(new TextEncoder().encode("x".repeat(MAX_HOOK_BODY_BYTES / 2)));
        controller.close();
      },
    });
    const streamed = await fetch(`${base}${hookPath}`, { method: "POST", body: chunks, duplex: "half" } as RequestInit);
    expect(streamed.status).toBe(413);
  });

  it("leaves everything that is not a trigger to Next", async () => {
    expect((await fetch(`${base}/api/hooks/shout/token`)).headers.get("x-handled-by")).toBe("next");
    expect((await post("/api/hooks/shout/a/b", "{}")).headers.get("x-handled-by")).toBe("next");
    expect((await post("/api/hooksx/shout", "{}")).headers.get("x-handled-by")).toBe("next");
    expect((await post("/runs", "{}")).headers.get("x-handled-by")).toBe("next");
    expect(parseHookPath("/api/hooks/wf%2Fx/t%20k")).toEqual({ workflowId: "wf/x", token: "t k" });
    expect(parseHookPath("/api/hooks/%E0%A4%A")).toBeUndefined();
    expect(parseHookPath("/api/hooks/")).toBeUndefined();
  });
});
