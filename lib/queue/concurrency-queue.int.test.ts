import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPostgresDatabase, redisProblem, startWorkerProcess, until, queueTestSetup } from "@/e2e/fixtures/queue-cluster";
import { openTestRunner, postgresAvailable, type TestDatabase } from "@/e2e/fixtures/databases";
import { inFlightHighWater, startLlmGateway, type GatewayRequest, type LlmGateway } from "@/e2e/fixtures/llm-gateway";
import { RunQueueClient } from "./bullmq";

/**
 * Concurrency per workflow in queue mode, across real worker processes (`tsx worker.ts`, like
 * queue-mode.int.test.ts): Postgres (a database of its own, `h_conc_…`) and Redis db CONC_TEST_REDIS_DB (default 15,
 * FLUSHed at the end: it must be empty at the start, else the suite skips saying so). What runs at once is measured
 * at the LLM gateway: the high-water mark of overlapping requests.
 */
const REDIS_DB = Number(process.env.CONC_TEST_REDIS_DB ?? 15);
const REDIS_URL = `redis://127.0.0.1:6379/${REDIS_DB}`;

const redisIssue = await redisProblem(REDIS_URL, "CONC_TEST_REDIS_DB");
const pgAvailable = await postgresAvailable();
if (redisIssue) console.warn(`${redisIssue}: the queue-mode concurrency tests are skipped.`);
const available = pgAvailable && !redisIssue;

let database: TestDatabase;
let harness: Awaited<ReturnType<typeof openTestRunner>>;
let queue: RunQueueClient;
let gateway: LlmGateway;
let dataDir: string;
let redis: Redis;
const children: ChildProcess[] = [];

async function startWorker(env: NodeJS.ProcessEnv): Promise<string> {
  const worker = await startWorkerProcess(env);
  children.push(worker.child);
  return worker.processId;
}

beforeAll(async () => {
  if (!available) return;
  database = await createPostgresDatabase("h_conc");
  gateway = await startLlmGateway();
  dataDir = mkdtempSync(path.join(tmpdir(), "orchestrator-conc-"));
  const prefix = `conc-${Math.random().toString(36).slice(2, 10)}`;
  // 2 × 2 job slots: runs waiting for a concurrency slot must not sit in them.
  const { env, config } = queueTestSetup({ databaseUrl: database.url, redisUrl: REDIS_URL, prefix, concurrency: 2, leaseMs: 3000, reconcileMs: 2000, lockMs: 5000, dataDir, gatewayUrl: gateway.url });
  queue = new RunQueueClient(config);
  harness = await openTestRunner(database, { dispatch: queue, leaseMs: 3000 });
  redis = new Redis(REDIS_URL);
  await Promise.all([startWorker(env), startWorker(env)]);
}, 180_000);

afterAll(async () => {
  if (!available) return;
  for (const child of children) child.kill("SIGKILL");
  await queue?.close();
  await harness?.close();
  await gateway?.close();
  if (redis) {
    await redis.flushdb(); // db REDIS_DB is this test's alone (checked empty at the start)
    redis.disconnect();
  }
  rmSync(dataDir, { recursive: true, force: true });
}, 60_000);

const start = (definition: unknown, input?: unknown) => harness.runner.startRun({ definition, input, ownerId: harness.userId, source: "api" });
const tagged = (tag: string) => gateway.requests.filter((r) => r.messages.at(-1)?.content.startsWith(`${tag} `));
const slowRun = (id: string, tag: string, concurrency: unknown, model = "slow-1500") => ({
  id,
  name: id,
  concurrency,
  steps: [{ id: "ask", type: "llm", config: { model, prompt: `${tag} {{ input.customerId }} {{ input.n }}` } }],
});

describe.skipIf(!available)("queue mode: concurrency per workflow across two worker processes", () => {
  it("limit 2 holds across workers; waiting runs wait as delayed jobs, not in worker slots: another workflow's run starts at once", async () => {
    const tag = `q2-${Date.now()}`;
    const runs: string[] = [];
    for (let n = 0; n < 6; n++) runs.push((await start(slowRun("q-limit-two", tag, { limit: 2 }), { customerId: "c", n })).runId);
    // The runs over the limit are handed back and wait in Redis as delayed jobs, with their reason in Postgres.
    await until(async () => (await harness.db.run.count({ where: { id: { in: runs }, status: "queued", queueReason: { not: null } } })) >= 3, "the runs over the limit to wait");
    expect(await queue.queue.getDelayedCount()).toBeGreaterThanOrEqual(1);
    const waiting = await harness.db.run.findFirstOrThrow({ where: { id: { in: runs }, status: "queued", queueReason: { not: null } } });
    expect(waiting).toMatchObject({ leaseOwner: "queue", leaseExpiresAt: null });
    // Why it waits: the slots taken, or runs created before it that are first in line (not yet claimed when it looked).
    const [, running, before] = /^waiting for a concurrency slot \((\d) of 2 running(?:; (\d) queued before it)?\)$/.exec(waiting.queueReason!) ?? [];
    expect(running, `reason "${waiting.queueReason}"`).toBeDefined();
    expect(Number(running) + Number(before ?? 0)).toBeGreaterThanOrEqual(2);
    // 4 job slots in all, 2 taken by the running runs: an unlimited workflow's run is not stuck behind the waiters
    // (were they waiting in worker slots, it would start only once the limited runs' backlog had drained).
    const otherTag = `free-${Date.now()}`;
    const { runId: free } = await start({ id: "q-free", name: "free", steps: [{ id: "ask", type: "llm", config: { model: "test-model", prompt: `${otherTag} x` } }] });
    expect(await harness.runner.waitForRun(free)).toMatchObject({ status: "succeeded" });
    const freeStarted = tagged(otherTag)[0].startedAt;

    const results = await Promise.all(runs.map((id) => harness.runner.waitForRun(id)));
    expect(results.map((r) => r.status), JSON.stringify(results.filter((r) => r.status !== "succeeded"))).toEqual(runs.map(() => "succeeded"));
    expect(tagged(tag)).toHaveLength(6);
    expect(inFlightHighWater(tagged(tag))).toBe(2);
    // It started before the last wave of the limited runs (the 5th and 6th), which had waited since the beginning.
    const limitedStarts = tagged(tag).map((r) => r.startedAt).sort((a, b) => a - b);
    expect(freeStarted).toBeLessThan(limitedStarts[4]);
    const rows = await harness.db.run.findMany({ where: { id: { in: runs } } });
    // Waiting was not a crash: no run was taken over.
    expect(rows.every((r) => r.takeovers === 0)).toBe(true);
    expect(rows.every((r) => r.queueReason === null)).toBe(true);
    // First created, first started: slots are claimed in creation order; two runs claiming at about the same time
    // (two slots freed together) may record their start the other way round, so a run is at most one place off.
    const startOrder = [...rows].sort((a, b) => a.startedAt!.getTime() - b.startedAt!.getTime()).map((r) => runs.indexOf(r.id));
    startOrder.forEach((created, started) => expect(Math.abs(created - started), `start order ${startOrder}`).toBeLessThanOrEqual(1));
  }, 120_000);

  it("a key: one run per customer at a time across workers, customers in parallel; a cancelled waiting run never starts", async () => {
    const tag = `qk-${Date.now()}`;
    const def = slowRun("q-per-customer", tag, { limit: 1, key: "input.customerId" });
    const inputs = ["acme", "acme", "acme", "globex", "globex", "acme"].map((customerId, n) => ({ customerId, n }));
    const runs: string[] = [];
    for (const input of inputs) runs.push((await start(def, input)).runId);
    const cancelled = runs[5];
    await harness.runner.cancelRun(cancelled, harness.userId);
    const results = await Promise.all(runs.slice(0, 5).map((id) => harness.runner.waitForRun(id)));
    expect(results.map((r) => r.status), JSON.stringify(results.filter((r) => r.status !== "succeeded"))).toEqual(runs.slice(0, 5).map(() => "succeeded"));
    expect(await harness.runner.waitForEnd(cancelled, 10_000)).toBe("cancelled");
    const of = (customer: string) => tagged(tag).filter((r) => r.messages.at(-1)!.content.startsWith(`${tag} ${customer} `));
    expect(of("acme").map((r) => r.messages.at(-1)!.content)).toEqual([0, 1, 2].map((n) => `${tag} acme ${n}`));
    expect(inFlightHighWater(of("acme"))).toBe(1);
    expect(inFlightHighWater(of("globex"))).toBe(1);
    expect(inFlightHighWater(tagged(tag))).toBe(2);
    expect((await harness.db.run.findUniqueOrThrow({ where: { id: cancelled } })).startedAt).toBeNull();
  }, 120_000);
});
