import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestRunner, postgresAvailable, type TestDatabase } from "@/e2e/fixtures/databases";
import { startLlmGateway, type LlmGateway } from "@/e2e/fixtures/llm-gateway";
import { createPostgresDatabase, redisServerAvailable, startRedisServer, startWorkerProcess, until, type RedisServer, type WorkerProcess, queueTestSetup } from "@/e2e/fixtures/queue-cluster";
import { RunQueueClient } from "./bullmq";

/**
 * Redis restarted mid-load, for real: a redis-server of this test's own (no persistence, so it comes back empty)
 * is killed with SIGKILL while runs execute and wait in the queue, the web side goes on accepting runs while it is
 * down, then it starts again. Every accepted run must end succeeded with each step executed once, and the workers
 * must live on. Postgres: a database of its own (`h_redis_…`). Skips, saying why, without Postgres or redis-server.
 */
const redisProblem = await redisServerAvailable();
if (redisProblem) console.warn(`${redisProblem}: the Redis-restart test is skipped.`);
const available = (await postgresAvailable()) && !redisProblem;

let database: TestDatabase;
let redisServer: RedisServer;
let harness: Awaited<ReturnType<typeof openTestRunner>>;
let queue: RunQueueClient;
let gateway: LlmGateway;
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  if (!available) return;
  database = await createPostgresDatabase("h_redis");
  redisServer = await startRedisServer();
  gateway = await startLlmGateway();
  const prefix = "restart";
  const { env, config } = queueTestSetup({ databaseUrl: database.url, redisUrl: redisServer.url, prefix, concurrency: 8, leaseMs: 1500, reconcileMs: 1000, lockMs: 2000, gatewayUrl: gateway.url });
  queue = new RunQueueClient(config);
  harness = await openTestRunner(database, { dispatch: queue, leaseMs: 1500 });
  workers.push(...(await Promise.all([startWorkerProcess(env), startWorkerProcess(env)])));
}, 120_000);

afterAll(async () => {
  if (!available) return;
  for (const worker of workers) worker.child.kill("SIGKILL");
  await queue?.close();
  await harness?.close();
  await gateway?.close();
  await redisServer?.stop();
}, 60_000);

const prompt = (r: { messages: Array<{ content: string }> }) => r.messages.at(-1)?.content;
const requestsFor = (text: string) => gateway.requests.filter((r) => prompt(r) === text);

describe.skipIf(!available)("queue mode: Redis restarted mid-load", () => {
  it("runs accepted before and during the outage all end succeeded, each step once; the web side never hangs; workers live on", async () => {
    const tag = `restart-${Date.now()}`;
    const definition = (i: number) => ({
      id: `restart-${i}`,
      name: "Restart",
      steps: [
        { id: "ask", type: "llm", config: { model: "slow-300", prompt: `${tag} ${i}` } },
        { id: "shape", type: "transform", config: { output: "{{ steps.ask.text }}!" } },
      ],
    });
    const start = (i: number) => harness.runner.startRun({ definition: definition(i), ownerId: harness.userId, source: "api" });
    const before = await Promise.all(Array.from({ length: 40 }, (_, i) => start(i)));
    await until(() => gateway.requests.some((r) => prompt(r)?.startsWith(tag)), "the first runs to start");
    expect(await queue.depth()).toBeGreaterThan(0); // jobs waiting in Redis, about to be lost

    await redisServer.stop();
    // Accepting runs while Redis is down: stored as queued in Postgres, answered promptly (no hang).
    const during: Array<{ runId: string }> = [];
    for (let i = 40; i < 50; i++) {
      const asked = Date.now();
      during.push(await start(i));
      expect(Date.now() - asked, "accepting a run while Redis is down").toBeLessThan(5000);
    }
    await new Promise((resolve) => setTimeout(resolve, 2000));
    await redisServer.start(); // empty: every job it held is gone
    expect(await queue.depth()).toBe(0);

    const runIds = [...before, ...during].map((r) => r.runId);
    await until(async () => (await harness.db.run.count({ where: { id: { in: runIds }, status: { in: ["succeeded", "failed", "cancelled"] } } })) === runIds.length, "every run to end", 90_000);
    const runs = await harness.db.run.findMany({ where: { id: { in: runIds } }, select: { status: true, error: true } });
    expect(runs.filter((r) => r.status !== "succeeded"), "runs that did not succeed").toEqual([]);
    for (let i = 0; i < 50; i++) expect(requestsFor(`${tag} ${i}`), `run ${i}'s llm step`).toHaveLength(1);
    const steps = await harness.db.stepRun.findMany({ where: { runId: { in: runIds } }, select: { execution: true, status: true } });
    expect(steps).toHaveLength(100);
    expect(steps.every((s) => s.execution === 1 && s.status === "succeeded")).toBe(true);
    for (const worker of workers) expect(worker.child.exitCode, worker.output()).toBeNull();
  }, 180_000);
});
