import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPostgresDatabase, redisProblem, startWorkerProcess, until, type WorkerProcess, queueTestSetup } from "@/e2e/fixtures/queue-cluster";
import { openTestRunner, postgresAvailable, type TestDatabase } from "@/e2e/fixtures/databases";
import { startLlmGateway, type LlmGateway } from "@/e2e/fixtures/llm-gateway";
import { RunQueueClient } from "@/lib/queue/bullmq";
import { saveModelLimits } from "./settings";

/**
 * The governor in queue mode with real processes: this test process is the web side (the real runner handing runs
 * to BullMQ), two `worker.ts` child processes execute them and share the limits through Redis (db
 * GOVERNOR_TEST_REDIS_DB, default 14; every key under a prefix of this test's own, deleted afterwards; no FLUSHDB)
 * and Postgres (a database of its own, `h_gov_…`). Skips, saying why, when Postgres or Redis is unreachable.
 */
const REDIS_URL = `redis://127.0.0.1:6379/${Number(process.env.GOVERNOR_TEST_REDIS_DB ?? 14)}`;

const problem = await redisProblem(REDIS_URL);
const pgAvailable = await postgresAvailable();
if (problem) console.warn(`${problem}: the queue-mode governor tests are skipped.`);
const available = pgAvailable && !problem;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
let database: TestDatabase;
let harness: Awaited<ReturnType<typeof openTestRunner>>;
let queue: RunQueueClient;
let gateway: LlmGateway;
let dataDir: string;
let prefix: string;
const workers: WorkerProcess[] = [];

async function startWorker(env: NodeJS.ProcessEnv) {
  workers.push(await startWorkerProcess(env));
}

beforeAll(async () => {
  if (!available) return;
  database = await createPostgresDatabase("h_gov");
  gateway = await startLlmGateway({ tokenDelayMs: 1 });
  dataDir = mkdtempSync(path.join(tmpdir(), "orchestrator-gov-"));
  prefix = `gov-q-${Math.random().toString(36).slice(2, 10)}`;
  const { env, config } = queueTestSetup({ databaseUrl: database.url, redisUrl: REDIS_URL, prefix, concurrency: 6, reconcileMs: 1000, lockMs: 30_000, dataDir, gatewayUrl: gateway.url });
  queue = new RunQueueClient(config);
  harness = await openTestRunner(database, { dispatch: queue });
  await Promise.all([startWorker(env), startWorker(env)]);
  // Each worker loads the llm executor and its client on its first call: warmed here (runs spread over both), so
  // the timing tests measure the pacing, not a first call's start-up.
  const warm = await Promise.all(Array.from({ length: 12 }, (_, i) => start("slow-100", `warm ${i}`)));
  await Promise.all(warm.map((r) => harness.runner.waitForRun(r.runId)));
}, 180_000);

afterAll(async () => {
  if (!available) return;
  for (const worker of workers) worker.child.kill("SIGKILL");
  await queue?.close();
  await harness?.close();
  await gateway?.close();
  const redis = new Redis(REDIS_URL);
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
  rmSync(dataDir, { recursive: true, force: true });
}, 60_000);

const start = (model: string, prompt: string) =>
  harness.runner.startRun({ definition: { id: `gov-${model}`, name: "governed", steps: [{ id: "ask", type: "llm", config: { model, prompt } }] }, ownerId: harness.userId, source: "api" });

/** Which processes held the runs while they went on (sampled: a run waits in its line holding its lease). */
function watchOwners(runIds: string[]) {
  const owners = new Set<string>();
  let stop = false;
  const done = (async () => {
    while (!stop) {
      for (const row of await harness.db.run.findMany({ where: { id: { in: runIds } }, select: { leaseOwner: true } })) if (row.leaseOwner) owners.add(row.leaseOwner);
      await sleep(100);
    }
  })();
  return { owners, stop: async () => ((stop = true), await done) };
}

describe.skipIf(!available)("model governor in queue mode: two workers share the limits through Redis", () => {
  it("a requests-per-minute limit holds across both workers", async () => {
    const model = "q-paced";
    await saveModelLimits(harness.db, [{ kind: "model", match: model, rpm: 120 }]); // one call every 500 ms, all workers together
    const runs = await Promise.all(Array.from({ length: 10 }, (_, i) => start(model, `paced ${i}`)));
    const watch = watchOwners(runs.map((r) => r.runId));
    const results = await Promise.all(runs.map((r) => harness.runner.waitForRun(r.runId)));
    await watch.stop();
    expect(results.map((r) => r.status)).toEqual(Array(10).fill("succeeded"));
    // Both workers executed some of them…
    expect([...watch.owners].filter((o) => workers.some((w) => w.processId === o)).length).toBe(2);
    // …and the gateway saw the calls one after another, not two at a time (each worker pacing on its own would
    // send pairs): every gap well above 0 (the admission is 500 ms apart; the client's latency varies), and the
    // ten calls over nine intervals.
    const starts = gateway.requests.filter((r) => r.model === model).map((r) => r.startedAt).sort((a, b) => a - b);
    expect(starts).toHaveLength(10);
    for (let i = 1; i < starts.length; i++) expect(starts[i] - starts[i - 1]).toBeGreaterThanOrEqual(250);
    expect(starts[9] - starts[0]).toBeGreaterThanOrEqual(9 * 500 - 300);
  });

  it("a concurrency limit holds across both workers", async () => {
    const model = "slow-300";
    await saveModelLimits(harness.db, [{ kind: "model", match: model, maxConcurrent: 1 }]);
    const runs = await Promise.all(Array.from({ length: 8 }, (_, i) => start(model, `one at a time ${i}`)));
    const watch = watchOwners(runs.map((r) => r.runId));
    const results = await Promise.all(runs.map((r) => harness.runner.waitForRun(r.runId)));
    await watch.stop();
    expect(results.map((r) => r.status)).toEqual(Array(8).fill("succeeded"));
    expect([...watch.owners].filter((o) => workers.some((w) => w.processId === o)).length).toBe(2);
    const calls = gateway.requests.filter((r) => r.model === model);
    const edges = calls.flatMap((c) => [[c.startedAt, 1], [c.finishedAt!, -1]]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    let inFlight = 0;
    let peak = 0;
    for (const [, change] of edges) peak = Math.max(peak, (inFlight += change));
    expect(peak).toBe(1);
  });

  it("a 429 on one worker pauses the model's line on the other", async () => {
    const model = "q-limited";
    await saveModelLimits(harness.db, []);
    gateway.setRateLimit({ requestsPerMinute: 1, windowMs: 3000, models: [model] });
    const direct = await fetch(`${gateway.url}/chat/completions`, { method: "POST", body: JSON.stringify({ model, messages: [{ role: "user", content: "x" }] }) });
    expect(direct.status).toBe(200);
    const first = await start(model, "refused first");
    await until(() => gateway.rejections.length > 0, "the first 429");
    const rejectedAt = gateway.rejections[0].at;
    await sleep(200);
    const others = await Promise.all(Array.from({ length: 4 }, (_, i) => start(model, `after the 429 ${i}`)));
    const runs = [first, ...others];
    const watch = watchOwners(runs.map((r) => r.runId));
    const results = await Promise.all(runs.map((r) => harness.runner.waitForRun(r.runId)));
    await watch.stop();
    expect(results.map((r) => r.status)).toEqual(Array(5).fill("succeeded"));
    expect([...watch.owners].filter((o) => workers.some((w) => w.processId === o)).length).toBe(2);
    const arrivals = [...gateway.requests.filter((r) => r.model === model).map((r) => r.startedAt), ...gateway.rejections.map((r) => r.at)];
    expect(arrivals.filter((at) => at > rejectedAt && at < rejectedAt + 2500)).toEqual([]);
    gateway.setRateLimit(undefined);
  });
});
