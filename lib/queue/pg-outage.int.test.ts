import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPostgresDatabase, redisProblem, until, WORKER_COMMAND } from "@/e2e/fixtures/queue-cluster";
import { openTestRunner, postgresAvailable, type TestDatabase } from "@/e2e/fixtures/databases";
import { startLlmGateway, type LlmGateway } from "@/e2e/fixtures/llm-gateway";
import { startTcpProxy } from "@/e2e/fixtures/tcp-proxy";
import { RunQueueClient } from "./bullmq";
import type { QueueConfig } from "./config";

/**
 * Postgres briefly unreachable from a worker, with real processes: the web side is this test process (the real
 * runner handing runs to BullMQ, straight to Postgres); the worker is a `worker.ts` child process whose
 * DATABASE_URL goes through a loopback TCP proxy that the test cuts mid-load (every connection destroyed, new ones
 * refused) for a few seconds, then restores. Every accepted run must end succeeded, no step executed twice, and
 * the worker must still be alive, having logged the outage once. Postgres: a database of its own (`h_rt_outage_…`);
 * Redis db 12 with keys under a prefix of this test's own (deleted after). Skipped, saying why, without either.
 */
const REDIS_URL = process.env.OUTAGE_TEST_REDIS_URL ?? "redis://127.0.0.1:6379/12";

const redisIssue = await redisProblem(REDIS_URL);
const pgAvailable = await postgresAvailable();
if (redisIssue) console.warn(`${redisIssue}: the Postgres-outage test is skipped.`);
const available = pgAvailable && !redisIssue;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
let database: TestDatabase;
let harness: Awaited<ReturnType<typeof openTestRunner>>;
let queue: RunQueueClient;
let gateway: LlmGateway;
let proxy: Awaited<ReturnType<typeof startTcpProxy>>;
let worker: ChildProcess;
let workerOutput = "";
let dataDir: string;
const prefix = `rt-outage-${Math.random().toString(36).slice(2, 10)}`;

beforeAll(async () => {
  if (!available) return;
  database = await createPostgresDatabase("h_rt_outage");
  const direct = new URL(database.url);
  gateway = await startLlmGateway();
  process.env.LLM_GATEWAY_URL = gateway.url;
  process.env.LLM_API_KEY = "k";
  const config: QueueConfig = { redisUrl: REDIS_URL, prefix, concurrency: 8, reconcileMs: 2000, lockMs: 5000 };
  queue = new RunQueueClient(config);
  harness = await openTestRunner(database, { dispatch: queue }); // migrates before the worker starts

  proxy = await startTcpProxy({ host: direct.hostname, port: Number(direct.port || 5432) });
  const throughProxy = new URL(direct);
  throughProxy.host = `127.0.0.1:${proxy.port}`;
  dataDir = mkdtempSync(path.join(tmpdir(), "orchestrator-outage-"));
  worker = spawn(WORKER_COMMAND.command, WORKER_COMMAND.args, {
    cwd: WORKER_COMMAND.cwd,
    env: {
      ...process.env,
      EXECUTION_MODE: "queue",
      DATABASE_URL: throughProxy.toString(),
      REDIS_URL,
      ORCHESTRATOR_QUEUE_PREFIX: prefix,
      ORCHESTRATOR_DATA_DIR: dataDir,
      WORKER_CONCURRENCY: "8",
      ORCHESTRATOR_RECONCILE_MS: "2000",
      ORCHESTRATOR_QUEUE_LOCK_MS: "5000",
      LLM_GATEWAY_URL: gateway.url,
      LLM_API_KEY: "k",
      LOG_LEVEL: "info",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  worker.stdout!.on("data", (d) => (workerOutput += d));
  worker.stderr!.on("data", (d) => (workerOutput += d));
  await until(() => /ready/.test(workerOutput) || worker.exitCode !== null, "the worker to start", 90_000);
  if (worker.exitCode !== null) throw new Error(`the worker did not start:\n${workerOutput}`);
}, 150_000);

afterAll(async () => {
  if (!available) return;
  worker?.kill("SIGKILL");
  await queue?.close();
  await harness?.close();
  await proxy?.close();
  await gateway?.close();
  const redis = new Redis(REDIS_URL);
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
  rmSync(dataDir, { recursive: true, force: true });
}, 60_000);

const prompt = (r: { messages: Array<{ content: string }> }) => r.messages.at(-1)?.content;

describe.skipIf(!available)("Postgres briefly unreachable from a worker", () => {
  it("the worker backs off and recovers: every accepted run ends succeeded, no step executed twice, the worker alive", async () => {
    const tag = `outage-${Date.now()}`;
    const count = 16;
    const started = await Promise.all(
      Array.from({ length: count }, (_, i) =>
        harness.runner.startRun({
          definition: {
            id: `outage-${i}`,
            name: "Outage",
            steps: [
              { id: "ask", type: "llm", config: { model: "slow-600", prompt: `${tag} ${i}` } },
              { id: "shape", type: "transform", config: { output: "{{ steps.ask.text }}!" } },
            ],
          },
          ownerId: harness.userId,
          source: "api",
        }),
      ),
    );
    await until(() => gateway.requests.some((r) => prompt(r)?.startsWith(tag)), "the first runs to start");
    await proxy.cut();
    // Accepted while the worker cannot reach Postgres: their jobs' claims fail and are retried with back-off.
    const during = await Promise.all(
      Array.from({ length: 4 }, (_, i) =>
        harness.runner.startRun({
          definition: { id: `outage-late-${i}`, name: "Outage late", steps: [{ id: "ask", type: "llm", config: { model: "slow-100", prompt: `${tag} late ${i}` } }] },
          ownerId: harness.userId,
          source: "api",
        }),
      ),
    );
    await sleep(4000);
    expect(worker.exitCode, workerOutput.slice(-4000)).toBeNull();
    await proxy.restore();

    const all = [...started, ...during];
    const results = await Promise.all(all.map(({ runId }) => harness.runner.waitForRun(runId)));
    expect(results.map((r) => r.status), JSON.stringify(results.filter((r) => r.status !== "succeeded"))).toEqual(results.map(() => "succeeded"));
    for (let i = 0; i < count; i++) expect(gateway.requests.filter((r) => prompt(r) === `${tag} ${i}`), `run ${i}`).toHaveLength(1);
    for (let i = 0; i < 4; i++) expect(gateway.requests.filter((r) => prompt(r) === `${tag} late ${i}`), `late run ${i}`).toHaveLength(1);
    const steps = await harness.db.stepRun.findMany({ where: { runId: { in: all.map((s) => s.runId) } } });
    expect(steps).toHaveLength(count * 2 + 4);
    expect(steps.every((s) => s.execution === 1 && s.status === "succeeded")).toBe(true);

    expect(worker.exitCode).toBeNull();
    // Logged once for the outage (not per statement or per retry), and once when it ended.
    expect(workerOutput.match(/Postgres is unreachable/g) ?? [], workerOutput.slice(-3000)).toHaveLength(1);
    expect(workerOutput).toMatch(/Postgres answers again/);
  }, 180_000);
});
