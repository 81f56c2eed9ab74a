import { createHmac } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestRunner, testDatabases, type TestDatabase } from "@/e2e/fixtures/databases";
import { SqlCheckpointSaver } from "@/lib/checkpoint/sql-saver";
import { openSql, type SqlConnection } from "@/lib/db/sql";
import { Runner } from "@/lib/runner/runner";
import { validateWorkflow } from "@/lib/workflow/validate";
import { saveWorkflowVersion } from "@/lib/workflows/repository";
import { enableHook, handleHookRequest, signRequest, type HookRequest } from "./hooks";
import { deleteExpiredReceipts, REPLAY_WINDOW_S } from "./receipts";

/**
 * Replay protection and Idempotency-Keys of the webhook trigger, on SQLite and Postgres: real runner, real
 * database, and a second runner with its own connection standing for another process.
 */
const databases = await testDatabases();
const savedDir = process.env.ORCHESTRATOR_DATA_DIR;
process.env.ORCHESTRATOR_DATA_DIR = mkdtempSync(path.join(tmpdir(), "hooks-replay-")); // its own secret key file
afterAll(() => {
  process.env.ORCHESTRATOR_DATA_DIR = savedDir;
});

const nowS = () => Math.floor(Date.now() / 1000);
/** A request signed the current way: timestamp, signature of "<timestamp>.<body>" and the body. */
const signedBy = (secret: string, rawBody: string, timestamp = nowS()) => ({ timestamp: String(timestamp), signature: signRequest(secret, timestamp, rawBody), rawBody });
/** The form before timestamps: an HMAC of the body alone. */
const bodyOnly = (secret: string, rawBody: string) => `sha256=${createHmac("sha256", secret).update(rawBody).digest("hex")}`;

describe.each(databases)("webhook replays and idempotency on %s", (_name, makeDatabase, available) => {
  let database: TestDatabase;
  let harness: Awaited<ReturnType<typeof openTestRunner>>;
  let other: { sql: SqlConnection; runner: Runner };
  let token: string;
  let secret: string;
  const workflowId = "replayed";

  beforeAll(async () => {
    if (!available) return;
    database = makeDatabase();
    harness = await openTestRunner(database);
    const { definition } = validateWorkflow({
      id: workflowId,
      name: "Replayed",
      input: { type: "object", properties: { n: { type: "number" } }, required: ["n"] },
      steps: [{ id: "double", type: "transform", config: { output: "{{ input.n * 2 }}" } }],
    });
    await saveWorkflowVersion(harness.db, harness.userId, definition!);
    ({ token, secret } = await enableHook(harness.db, harness.userId, workflowId));
    // Another process on the same database: its own connection and runner.
    const sql = openSql(database.url);
    other = { sql, runner: new Runner({ db: harness.db, sql, checkpointer: new SqlCheckpointSaver(sql), concurrency: 2 }) };
  });
  afterAll(async () => {
    if (!available) return;
    await other.runner.drain();
    await other.sql.close();
    await harness.close();
  });

  const here = (req: Omit<HookRequest, "workflowId">) => handleHookRequest({ db: harness.db, sql: harness.sql, runner: harness.runner }, { workflowId, ...req });
  const elsewhere = (req: Omit<HookRequest, "workflowId">) => handleHookRequest({ db: harness.db, sql: other.sql, runner: other.runner }, { workflowId, ...req });
  const runCount = () => harness.db.run.count({ where: { workflowId } });
  const messageOf = (answer: { body: Record<string, unknown> }) => (answer.body.error as { message: string }).message;

  it.skipIf(!available)("a replayed signed request is refused with 409 and starts no second run, in this process, another one, or concurrently", async () => {
    const request = signedBy(secret, '{"n":1}');
    const before = await runCount();
    const first = await here({ ...request, wait: true });
    expect(first).toMatchObject({ status: 200, body: { status: "succeeded", outputs: { double: 2 } } });

    const replayed = await here({ ...request, wait: true });
    expect(replayed).toMatchObject({ status: 409, body: { error: { code: "WEBHOOK_REPLAYED" } } });
    expect(messageOf(replayed)).toMatch(/accepted before .*X-Orchestrator-Timestamp.*Idempotency-Key/);
    expect(await elsewhere(request)).toMatchObject({ status: 409, body: { error: { code: "WEBHOOK_REPLAYED" } } });
    expect(await runCount()).toBe(before + 1);

    // Eight copies of one signed request at once, over two processes: exactly one run.
    const copy = signedBy(secret, '{"n":2}');
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => (i % 2 ? here : elsewhere)(copy)));
    expect(answers.map((a) => a.status).sort()).toEqual([202, 409, 409, 409, 409, 409, 409, 409]);
    expect(await runCount()).toBe(before + 2);
  });

  it.skipIf(!available)("a timestamp more than 5 minutes old or ahead is refused with 401 WEBHOOK_TIMESTAMP naming the header and the fix", async () => {
    const before = await runCount();
    const stale = await here(signedBy(secret, '{"n":3}', nowS() - REPLAY_WINDOW_S - 5));
    expect(stale).toMatchObject({ status: 401, body: { error: { code: "WEBHOOK_TIMESTAMP" } } });
    expect(messageOf(stale)).toMatch(/^X-Orchestrator-Timestamp \d+ is 30\d s old; it must be within 300 s of the server's time .*current unix time/);
    const future = await here(signedBy(secret, '{"n":3}', nowS() + REPLAY_WINDOW_S + 5));
    expect(future).toMatchObject({ status: 401, body: { error: { code: "WEBHOOK_TIMESTAMP" } } });
    expect(messageOf(future)).toMatch(/^X-Orchestrator-Timestamp \d+ is 30\d s in the future/);
    const garbled = await here({ ...signedBy(secret, '{"n":3}'), timestamp: "2026-12-02T10:00:00Z" });
    expect(garbled).toMatchObject({ status: 401, body: { error: { code: "WEBHOOK_TIMESTAMP" } } });
    expect(messageOf(garbled)).toMatch(/unix time in seconds \(digits only\)/);
    expect(await runCount()).toBe(before);
    // Inside the window, both ways, it is accepted.
    expect(await here(signedBy(secret, '{"n":3}', nowS() - REPLAY_WINDOW_S + 10))).toMatchObject({ status: 202 });
    expect(await here(signedBy(secret, '{"n":3}', nowS() + REPLAY_WINDOW_S - 10))).toMatchObject({ status: 202 });
    expect(await runCount()).toBe(before + 2);
  });

  it.skipIf(!available)("a wrong signature is 401 UNAUTHORIZED; the old body-only signature is 401 saying to sign \"<timestamp>.<body>\"", async () => {
    const before = await runCount();
    const body = '{"n":4}';
    const unauthorized = { status: 401, body: { error: { code: "UNAUTHORIZED", message: "unknown webhook or wrong token/signature" } } };
    expect(await here(signedBy("not-the-secret", body))).toMatchObject(unauthorized);
    expect(await here({ ...signedBy(secret, body), signature: "sha256=00" })).toMatchObject(unauthorized);
    // Signed for another timestamp than the one sent.
    expect(await here({ ...signedBy(secret, body, nowS() - 1), timestamp: String(nowS()) })).toMatchObject(unauthorized);

    // The old form as it was sent: the signature header alone.
    const old = await here({ signature: bodyOnly(secret, body), rawBody: body });
    expect(old).toMatchObject({ status: 401, body: { error: { code: "WEBHOOK_TIMESTAMP" } } });
    expect(messageOf(old)).toMatch(/X-Orchestrator-Timestamp header is missing: signatures cover "<timestamp>\.<body>", not the body alone/);
    // The old signature next to a timestamp: recognised, and told what to sign.
    const mixed = await here({ signature: bodyOnly(secret, body), timestamp: String(nowS()), rawBody: body });
    expect(mixed).toMatchObject({ status: 401, body: { error: { code: "UNAUTHORIZED" } } });
    expect(messageOf(mixed)).toMatch(/HMAC of the body alone; sign "<timestamp>\.<body>" instead/);
    expect(await runCount()).toBe(before);
  });

  it.skipIf(!available)("an Idempotency-Key returns the first run (same answer shape, ?wait=true its result), also from another process", async () => {
    const before = await runCount();
    const first = await here({ token, rawBody: '{"n":5}', idempotencyKey: "order-5" });
    expect(first).toMatchObject({ status: 202, body: { runId: expect.stringMatching(/^run_/), status: "queued" } });
    const runId = first.body.runId;
    const again = await here({ token, rawBody: '{"n":5}', idempotencyKey: "order-5" });
    expect(again).toMatchObject({ status: 202, body: { runId } });
    expect(await here({ token, rawBody: '{"n":5}', idempotencyKey: "order-5", wait: true })).toMatchObject({ status: 200, body: { runId, status: "succeeded", outputs: { double: 10 } } });
    // Signed anew (a retry), with the same key: the first run; another process reads it from the database.
    expect(await elsewhere({ ...signedBy(secret, '{"n":5}'), idempotencyKey: "order-5", wait: true })).toMatchObject({
      status: 200,
      body: { runId, status: "succeeded", outputs: { double: 10 } },
    });
    // Keys are per workflow and per key: another key starts another run.
    expect((await here({ token, rawBody: '{"n":5}', idempotencyKey: "order-5b" })).body.runId).not.toBe(runId);
    expect(await runCount()).toBe(before + 2);
  });

  it.skipIf(!available)("concurrent requests with one Idempotency-Key start one run and all answer its id; ?wait=true from another process waits for it", async () => {
    const before = await runCount();
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 ? here : elsewhere)({ token, rawBody: '{"n":6}', idempotencyKey: "burst-6", wait: i >= 8 })),
    );
    const runIds = new Set(answers.map((a) => a.body.runId));
    expect(runIds.size).toBe(1);
    expect(answers.every((a) => a.status === 202 || a.status === 200)).toBe(true);
    expect(answers.slice(8)).toMatchObject([
      { status: 200, body: { status: "succeeded", outputs: { double: 12 } } },
      { status: 200, body: { status: "succeeded", outputs: { double: 12 } } },
    ]);
    expect(await runCount()).toBe(before + 1);
  });

  it.skipIf(!available)("a bad Idempotency-Key is 400 naming the header; an expired key starts a new run and expired rows are swept", async () => {
    for (const key of ["", "x".repeat(201), "tab\there", "ünïcode"]) {
      const refused = await here({ token, rawBody: '{"n":7}', idempotencyKey: key });
      expect(refused).toMatchObject({ status: 400, body: { error: { code: "INVALID_INPUT" } } });
      expect(messageOf(refused)).toMatch(/Idempotency-Key header must be 1 to 200 printable ASCII characters/);
    }
    expect(await here({ token, rawBody: '{"n":7}', idempotencyKey: "x".repeat(200) })).toMatchObject({ status: 202 });

    const first = await here({ token, rawBody: '{"n":7}', idempotencyKey: "expiring-7" });
    // A day later (the key's time is up, not swept yet): the key starts a new run.
    await harness.db.webhookReceipt.updateMany({ where: { workflowId }, data: { expiresAt: new Date(Date.now() - 1000) } });
    const later = await here({ token, rawBody: '{"n":7}', idempotencyKey: "expiring-7" });
    expect(later).toMatchObject({ status: 202 });
    expect(later.body.runId).not.toBe(first.body.runId);
    expect(await here({ token, rawBody: '{"n":7}', idempotencyKey: "expiring-7" })).toMatchObject({ body: { runId: later.body.runId } });

    const live = await harness.db.webhookReceipt.count({ where: { expiresAt: { gt: new Date() } } });
    expect(live).toBeGreaterThan(0);
    await deleteExpiredReceipts(harness.sql);
    expect(await harness.db.webhookReceipt.count()).toBe(live);
  });
});
