import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sqliteTestDatabase, type TestDatabase } from "@/e2e/fixtures/databases";
import { actorById } from "@/lib/auth/access";
import { addUser } from "@/lib/auth/users";
import { SqlCheckpointSaver } from "@/lib/checkpoint/sql-saver";
import { createDb, ensureLocalUser, type Db } from "@/lib/db";
import { openSql, type SqlConnection } from "@/lib/db/sql";
import { Runner } from "@/lib/runner/runner";
import { validateWorkflow } from "@/lib/workflow/validate";
import { saveWorkflowVersion } from "@/lib/workflows/repository";
import { signToken } from "@/lib/secrets";
import { handleCallbackRequest } from "./callbacks";
import { disableHook, enableHook, getHookView, handleHookRequest, setHookWaitTimeout, signRequest } from "./hooks";

/** A request signed now: timestamp, signature of "<timestamp>.<body>" and the body. */
const signedBy = (secret: string, rawBody: string, timestamp = Math.floor(Date.now() / 1000)) => ({ timestamp: String(timestamp), signature: signRequest(secret, timestamp, rawBody), rawBody });

/** The webhook trigger end to end below HTTP: real runner, real SQLite, real secrets. */
let database: TestDatabase;
let db: Db;
let sql: SqlConnection;
let runner: Runner;
let userId: string;
const savedDir = process.env.ORCHESTRATOR_DATA_DIR;

beforeAll(async () => {
  process.env.ORCHESTRATOR_DATA_DIR = mkdtempSync(path.join(tmpdir(), "hooks-")); // its own secret key file
  database = sqliteTestDatabase();
  db = await createDb(database.url);
  sql = openSql(database.url);
  userId = await ensureLocalUser(db);
  runner = new Runner({ db, sql, checkpointer: new SqlCheckpointSaver(sql), concurrency: 2 });
  const { definition } = validateWorkflow({
    id: "greeter",
    name: "Greeter",
    input: { type: "object", properties: { name: { type: "string" } }, required: ["name"] },
    steps: [{ id: "hello", type: "transform", config: { output: "hello {{ input.name }}" } }],
  });
  await saveWorkflowVersion(db, userId, definition!);
});
afterAll(async () => {
  await runner.drain();
  await db.$disconnect();
  await sql.close();
  await database.drop();
  process.env.ORCHESTRATOR_DATA_DIR = savedDir;
});

describe("webhook trigger", () => {
  it("starts a run with the body as input, by token in the path or by HMAC signature; refuses anything else alike", async () => {
    const { token, secret, path: hookPath } = await enableHook(db, userId, "greeter");
    expect(hookPath).toBe(`/api/hooks/greeter/${token}`);
    const stored = await db.workflowHook.findUniqueOrThrow({ where: { workflowId: "greeter" } });
    expect(JSON.stringify(stored)).not.toContain(token);
    expect(JSON.stringify(stored)).not.toContain(secret);
    expect(await getHookView(db, userId, "greeter")).toMatchObject({ enabled: true, waitTimeoutMs: 30000 });

    const accepted = await handleHookRequest({ db, sql, runner }, { workflowId: "greeter", token, rawBody: '{"name":"ada"}' });
    expect(accepted).toMatchObject({ status: 202, body: { runId: expect.stringMatching(/^run_/), status: "queued" } });
    expect(await runner.waitForRun(accepted.body.runId as string)).toMatchObject({ status: "succeeded", outputs: { hello: "hello ada" } });
    expect(await db.run.findUniqueOrThrow({ where: { id: accepted.body.runId as string } })).toMatchObject({ source: "webhook", ownerId: userId, workflowVersion: 1 });

    const body = '{"name":"bo"}';
    const signed = await handleHookRequest({ db, sql, runner }, { workflowId: "greeter", ...signedBy(secret, body), wait: true });
    expect(signed).toMatchObject({ status: 200, body: { status: "succeeded", outputs: { hello: "hello bo" } } });

    const unauthorized = { status: 401, body: { error: { code: "UNAUTHORIZED" } } };
    expect(await handleHookRequest({ db, sql, runner }, { workflowId: "greeter", token: "wrong", rawBody: body })).toMatchObject(unauthorized);
    expect(await handleHookRequest({ db, sql, runner }, { workflowId: "greeter", ...signedBy("other-secret", body) })).toMatchObject(unauthorized);
    expect(await handleHookRequest({ db, sql, runner }, { workflowId: "greeter", ...signedBy(secret, body), rawBody: '{"name":"mallory"}' })).toMatchObject(unauthorized);
    expect(await handleHookRequest({ db, sql, runner }, { workflowId: "greeter", rawBody: body })).toMatchObject(unauthorized);
    expect(await handleHookRequest({ db, sql, runner }, { workflowId: "nope", token, rawBody: body })).toMatchObject(unauthorized);
  });

  it("checks the input against the workflow's schema (400 naming the field) and answers 202 when waiting runs out", async () => {
    const { token } = await enableHook(db, userId, "greeter");
    const bad = await handleHookRequest({ db, sql, runner }, { workflowId: "greeter", token, rawBody: '{"name": 5}' });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toMatch(/input\.name/);
    expect(await handleHookRequest({ db, sql, runner }, { workflowId: "greeter", token, rawBody: "{not json" })).toMatchObject({ status: 400, body: { error: { code: "INVALID_INPUT" } } });
    await expect(setHookWaitTimeout(db, userId, "greeter", 10)).rejects.toMatchObject({ code: "INVALID_INPUT", message: expect.stringMatching(/waitTimeoutMs/) });
    await setHookWaitTimeout(db, userId, "greeter", 100);
    expect(await getHookView(db, userId, "greeter")).toMatchObject({ waitTimeoutMs: 100 });
    const waited = await handleHookRequest({ db, sql, runner }, { workflowId: "greeter", token, rawBody: '{"name":"cy"}', wait: true, timeoutMs: 0 });
    expect(waited).toMatchObject({ status: 202, body: { runId: expect.any(String), status: "running" } });
  });

  it("refuses a body nested 100,000 levels with 400 INVALID_INPUT naming the nesting limit, and keeps answering", async () => {
    const { token, secret } = await enableHook(db, userId, "greeter");
    const deep = `${'{"name":'.repeat(100_000)}"x"${"}".repeat(100_000)}`;
    const before = await db.run.count();
    for (const request of [
      { workflowId: "greeter", token, rawBody: deep },
      { workflowId: "greeter", ...signedBy(secret, deep), wait: true },
    ]) {
      const refused = await handleHookRequest({ db, sql, runner }, request);
      expect(refused).toMatchObject({
        status: 400,
        body: { error: { code: "INVALID_INPUT", issues: [{ code: "NESTING_LIMIT", field: "input" }] } },
      });
      expect((refused.body.error as { message: string }).message).toMatch(/input\.name\.name\.name\.name…: is nested more than 100 levels deep \(the nesting limit, ORCHESTRATOR_MAX_JSON_DEPTH\)/);
    }
    expect(await db.run.count()).toBe(before); // nothing stored
    const next = await handleHookRequest({ db, sql, runner }, { workflowId: "greeter", token, rawBody: '{"name":"after"}', wait: true, timeoutMs: 30_000 }); // the test before set the hook's wait to 100 ms
    expect(next).toMatchObject({ status: 200, body: { status: "succeeded", outputs: { hello: "hello after" } } });
  });

  it("a callback body nested too deep is refused with 400 naming the limit; the step still takes a good one", async () => {
    const { runId, status } = await runner.runToCompletion({
      definition: { id: "cb", name: "Callback", steps: [{ id: "paid", type: "wait_webhook", config: {} }, { id: "after", type: "transform", config: { output: "{{ steps.paid.ok }}" } }] },
      ownerId: userId,
    });
    expect(status).toBe("waiting");
    const waiting = await db.stepRun.findFirstOrThrow({ where: { runId, stepId: "paid" } });
    const token = (JSON.parse(waiting.output!) as { path: string }).path.split("/").at(-1)!;
    const call = (rawBody: string, t = token) => handleCallbackRequest({ runner }, { runId, stepId: "paid", execution: 1, token: t, rawBody });

    const refused = await call(`${"[".repeat(100_000)}${"]".repeat(100_000)}`);
    expect(refused).toMatchObject({ status: 400, body: { error: { code: "INVALID_INPUT", issues: [{ code: "NESTING_LIMIT", field: "body" }] } } });
    expect((refused.body.error as { message: string }).message).toMatch(/^the callback body is invalid:\n- body\[0\]\[0\]\[0\]\[0\]…: is nested more than 100 levels deep/);
    expect(await call("[]", `${token}x`)).toMatchObject({ status: 404 });

    expect(await call('{"ok":true}')).toMatchObject({ status: 202, body: { runId } });
    expect(await runner.waitForRun(runId)).toMatchObject({ status: "succeeded", outputs: { paid: { ok: true }, after: true } });
    expect(await call('{"ok":true}')).toMatchObject({ status: 409, body: { error: { code: "CONFLICT" } } });
  });

  it("runs the definition of the latest saved version, also right after a new version was saved", async () => {
    const { validateWorkflow: check } = await import("@/lib/workflow/validate");
    const version = (greeting: string) =>
      check({ id: "versioned", name: "Versioned", steps: [{ id: "say", type: "transform", config: { output: `${greeting} {{ input.name }}` } }] }).definition!;
    await saveWorkflowVersion(db, userId, version("hello"));
    const { token } = await enableHook(db, userId, "versioned");
    const trigger = () => handleHookRequest({ db, sql, runner }, { workflowId: "versioned", token, rawBody: '{"name":"ada"}', wait: true });
    expect(await trigger()).toMatchObject({ status: 200, body: { outputs: { say: "hello ada" } } });
    expect(await trigger()).toMatchObject({ status: 200, body: { outputs: { say: "hello ada" } } });
    await saveWorkflowVersion(db, userId, version("goodbye"));
    const after = await trigger();
    expect(after).toMatchObject({ status: 200, body: { outputs: { say: "goodbye ada" } } });
    expect(await db.run.findUniqueOrThrow({ where: { id: after.body.runId as string } })).toMatchObject({ workflowVersion: 2 });
  });

  it("a rotated token replaces the old one; a disabled hook refuses", async () => {
    const first = await enableHook(db, userId, "greeter");
    await setHookWaitTimeout(db, userId, "greeter", 2500);
    const second = await enableHook(db, userId, "greeter");
    expect(await getHookView(db, userId, "greeter")).toMatchObject({ waitTimeoutMs: 2500 });
    expect((await handleHookRequest({ db, sql, runner }, { workflowId: "greeter", token: first.token, rawBody: '{"name":"x"}' })).status).toBe(401);
    expect((await handleHookRequest({ db, sql, runner }, { workflowId: "greeter", token: second.token, rawBody: '{"name":"x"}' })).status).toBe(202);
    await disableHook(db, userId, "greeter");
    expect((await handleHookRequest({ db, sql, runner }, { workflowId: "greeter", token: second.token, rawBody: '{"name":"x"}' })).status).toBe(401);
    // Another user does not see the workflow: its hook is not there for them; an unknown user is not signed in.
    const other = await addUser(db, await actorById(db, userId), { email: "other@example.com", password: "other-password-1", role: "editor" });
    await expect(enableHook(db, other.id, "greeter")).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(getHookView(db, other.id, "greeter")).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(enableHook(db, "someone-else", "greeter")).rejects.toMatchObject({ code: "UNAUTHORIZED" });
  });
});

describe("callback URLs", () => {
  it("a used callback URL stays used after resume from a checkpoint before it: refused with 409, the run not changed; the resumed run waits at a new URL", async () => {
    const definition = {
      id: "cb-rewind",
      name: "Callback rewind",
      steps: [
        { id: "before", type: "transform", config: { output: "ready" } },
        { id: "paid", type: "wait_webhook", config: {} },
        { id: "after", type: "transform", config: { output: "{{ steps.paid.amount }}" } },
      ],
      edges: [{ from: "before", to: "paid" }, { from: "paid", to: "after" }],
    };
    const { runId, status } = await runner.runToCompletion({ definition, ownerId: userId });
    expect(status).toBe("waiting");
    const waitingPath = async () => (JSON.parse((await db.stepRun.findFirstOrThrow({ where: { runId, stepId: "paid", status: "waiting" } })).output!) as { path: string }).path;
    const tokenOf = (p: string) => p.split("/").at(-1)!;
    const first = tokenOf(await waitingPath());
    const call = (token: string, rawBody: string) => handleCallbackRequest({ runner }, { runId, stepId: "paid", execution: 1, token, rawBody });

    expect(await call(first, '{"amount":10}')).toMatchObject({ status: 202 });
    expect(await runner.waitForRun(runId)).toMatchObject({ status: "succeeded", outputs: { paid: { amount: 10 }, after: 10 } });

    // Back to the checkpoint where "paid" is about to run: the run waits there again.
    const checkpoints = await runner.listCheckpoints(runId, userId);
    let beforePaid: string | undefined;
    for (const c of checkpoints) if ((await runner.checkpointState(runId, userId, c.checkpointId)).next.includes("paid")) beforePaid = c.checkpointId;
    expect(beforePaid).toBeDefined();
    await runner.resumeFromCheckpoint(runId, userId, beforePaid!);
    expect(await runner.waitForRun(runId)).toMatchObject({ status: "waiting" });
    const second = tokenOf(await waitingPath());
    expect(second).not.toBe(first);

    const replayed = await call(first, '{"amount":999}');
    expect(replayed).toMatchObject({ status: 409, body: { error: { code: "CONFLICT" } } });
    expect((replayed.body.error as { message: string }).message).toMatch(/callback URL .*no longer valid/);
    expect(await db.run.findUniqueOrThrow({ where: { id: runId } })).toMatchObject({ status: "waiting", resumeValue: null });
    expect(await db.stepRun.findFirstOrThrow({ where: { runId, stepId: "paid" } })).toMatchObject({ status: "waiting", output: expect.stringContaining(second) });

    expect(await call(second, '{"amount":20}')).toMatchObject({ status: 202 });
    expect(await runner.waitForRun(runId)).toMatchObject({ status: "succeeded", outputs: { paid: { amount: 20 }, after: 20 } });
    expect(await call(second, '{"amount":30}')).toMatchObject({ status: 409 });
    expect(await call(first, '{"amount":30}')).toMatchObject({ status: 409 });
  });

  it("a run that waited before callback URLs carried a wait id keeps its URL working (once)", async () => {
    const { runId, status } = await runner.runToCompletion({
      definition: { id: "cb-legacy", name: "Legacy callback", steps: [{ id: "paid", type: "wait_webhook", config: {} }] },
      ownerId: userId,
    });
    expect(status).toBe("waiting");
    // The URL such a run shows: the bare HMAC of run, step and execution.
    const legacy = signToken("callback", `${runId}:paid:1`);
    const waiting = await db.stepRun.findFirstOrThrow({ where: { runId, stepId: "paid" } });
    const request = JSON.parse(waiting.output!) as { path: string; url: string };
    const path = request.path.replace(/[^/]+$/, legacy);
    await db.stepRun.update({ where: { id: waiting.id }, data: { output: JSON.stringify({ ...request, path, url: request.url.replace(request.path, path) }) } });

    const call = (token: string) => handleCallbackRequest({ runner }, { runId, stepId: "paid", execution: 1, token, rawBody: '{"ok":1}' });
    expect(await call(request.path.split("/").at(-1)!)).toMatchObject({ status: 409 }); // not the URL it waits at
    expect(await call(legacy)).toMatchObject({ status: 202 });
    expect(await runner.waitForRun(runId)).toMatchObject({ status: "succeeded", outputs: { paid: { ok: 1 } } });
    expect(await call(legacy)).toMatchObject({ status: 409 });
  });
});
