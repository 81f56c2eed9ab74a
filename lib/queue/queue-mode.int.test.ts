import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Redis } from "ioredis";
import { io as connect } from "socket.io-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPostgresDatabase, redisProblem, startWorkerProcess, until, WORKER_COMMAND, type WorkerProcess, queueTestSetup } from "@/e2e/fixtures/queue-cluster";
import { openTestRunner, postgresAvailable, type TestDatabase } from "@/e2e/fixtures/databases";
import { startLlmGateway, type LlmGateway } from "@/e2e/fixtures/llm-gateway";
import { listenRealtime } from "@/e2e/fixtures/realtime-server";
import type { RunEvent, TokenEvent } from "@/lib/runner/event-types";
import { enableHook, handleHookRequest } from "@/lib/webhooks/hooks";
import { validateWorkflow } from "@/lib/workflow/validate";
import { saveWorkflowVersion } from "@/lib/workflows/repository";
import { realtimeKey } from "@/lib/realtime/redis";
import { metricsExposition } from "@/lib/observability/metrics";
import { observeSharedQueue } from "@/lib/observability/metrics-state";
import { RunQueueClient } from "./bullmq";

/**
 * Queue mode with real processes: this test process is the web side (the real runner, handing runs to BullMQ,
 * and the real realtime server), workers are `tsx worker.ts` child processes; Postgres (a database of its own,
 * `h_queue_…`) and Redis (db index QUEUE_TEST_REDIS_DB, default 11, which the test FLUSHDBs: it must be empty at
 * the start, else the suite skips saying so; keys under a prefix of their own). Skips, saying why, when Postgres
 * or Redis is unreachable. QUEUE_KILL_REPEAT sets the SIGKILL repetitions (default 2).
 */
const REDIS_DB = Number(process.env.QUEUE_TEST_REDIS_DB ?? 11);
const REDIS_URL = `redis://127.0.0.1:6379/${REDIS_DB}`;
const KILL_REPEAT = Number(process.env.QUEUE_KILL_REPEAT ?? 2);

const redisIssue = await redisProblem(REDIS_URL, "QUEUE_TEST_REDIS_DB");
const pgAvailable = await postgresAvailable();
if (redisIssue) console.warn(`${redisIssue}: the queue-mode tests are skipped.`);
const available = pgAvailable && !redisIssue;

let database: TestDatabase;
let harness: Awaited<ReturnType<typeof openTestRunner>>;
let queue: RunQueueClient;
let gateway: LlmGateway;
let dataDir: string;
let env: NodeJS.ProcessEnv;
let redis: Redis;
let prefix: string;
const workers = new Set<WorkerProcess>();

async function startWorker(extraEnv: Record<string, string> = {}): Promise<WorkerProcess> {
  const worker = await startWorkerProcess({ ...env, ...extraEnv }, 60_000);
  workers.add(worker);
  const { exited } = worker;
  void exited.then(() => workers.delete(worker));
  return worker;
}

beforeAll(async () => {
  if (!available) return;
  database = await createPostgresDatabase("h_queue");
  gateway = await startLlmGateway({ tokenDelayMs: 120 });
  dataDir = mkdtempSync(path.join(tmpdir(), "orchestrator-queue-"));
  prefix = `orch-test-${Math.random().toString(36).slice(2, 10)}`;
  const setup = queueTestSetup({ databaseUrl: database.url, redisUrl: REDIS_URL, prefix, concurrency: 4, leaseMs: 1500, reconcileMs: 1000, lockMs: 2000, dataDir, gatewayUrl: gateway.url });
  env = setup.env;
  const config = setup.config;
  queue = new RunQueueClient(config);
  // The web side: the real runner in queue mode (migrates the database before any worker starts).
  harness = await openTestRunner(database, { dispatch: queue, leaseMs: 1500 });
  redis = new Redis(REDIS_URL);
  await Promise.all([startWorker(), startWorker()]);
}, 120_000);

afterAll(async () => {
  if (!available) return;
  for (const worker of workers) worker.child.kill("SIGKILL");
  await queue?.close();
  await harness?.close();
  await gateway?.close();
  if (redis) {
    await redis.flushdb(); // db REDIS_DB is this test's alone (checked empty at the start)
    redis.disconnect();
  }
  rmSync(dataDir, { recursive: true, force: true });
}, 60_000);

const prompt = (r: { messages: Array<{ content: string }> }) => r.messages.at(-1)?.content;
const requestsFor = (text: string) => gateway.requests.filter((r) => prompt(r) === text);
const runRow = (runId: string) => harness.db.run.findUniqueOrThrow({ where: { id: runId } });

function start(definition: unknown, input?: unknown) {
  return harness.runner.startRun({ definition, input, ownerId: harness.userId, source: "api" });
}

describe.skipIf(!available)("queue mode: web + workers on Postgres and BullMQ", () => {
  it("a run the web side accepts is handed to BullMQ and completes on a worker; health counts the workers", async () => {
    const { runId } = await start({
      id: "queued",
      name: "Queued",
      steps: [
        { id: "ask", type: "llm", config: { model: "test-model", prompt: "hello queue" } },
        { id: "shape", type: "transform", config: { output: "{{ steps.ask.text }}!" } },
      ],
    });
    expect(harness.runner.holds(runId)).toBe(false);
    const result = await harness.runner.waitForRun(runId);
    expect(result).toMatchObject({ status: "succeeded", outputs: { shape: expect.stringContaining("hello queue") } });
    const row = await runRow(runId);
    expect(row).toMatchObject({ takeovers: 0, leaseOwner: null });
    expect(await queue.workers(), JSON.stringify(await queue.queue.getWorkers())).toBe(2);
    expect(await queue.depth()).toBe(0);
  });

  it("/metrics in queue mode: orchestrator_queue_depth is BullMQ's depth, orchestrator_queue_workers its workers", async () => {
    observeSharedQueue(queue); // what getRuntime does in queue mode
    const gauge = async (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec((await metricsExposition()).text)?.[1]);
    try {
      expect(await gauge("orchestrator_queue_workers")).toBe(2);
      // A delayed job waits in BullMQ (no worker takes it before its time): the depth counts it.
      const probe = await queue.queue.add("run", { runId: "metrics-probe" }, { jobId: "metrics-probe", delay: 600_000 });
      try {
        expect(await gauge("orchestrator_queue_depth")).toBe(await queue.depth());
        expect(await gauge("orchestrator_queue_depth")).toBeGreaterThanOrEqual(1);
      } finally {
        await probe.remove();
      }
      expect(await gauge("orchestrator_queue_depth")).toBe(0);
    } finally {
      observeSharedQueue(undefined);
    }
  });

  it("a webhook with ?wait=true answers with the result a worker produced; past its time limit, 202", async () => {
    const { definition } = validateWorkflow({ id: "hooked", name: "Hooked", steps: [{ id: "hello", type: "llm", config: { model: "slow-300", prompt: "hello {{ input.name }}" } }] });
    await saveWorkflowVersion(harness.db, harness.userId, definition!);
    const { token } = await enableHook(harness.db, harness.userId, "hooked");
    const deps = { db: harness.db, sql: harness.sql, runner: harness.runner };
    const answer = await handleHookRequest(deps, { workflowId: "hooked", token, rawBody: '{"name":"ada"}', wait: true });
    expect(answer).toMatchObject({ status: 200, body: { status: "succeeded", outputs: { hello: { text: expect.stringContaining("hello ada") } } } });
    const late = await handleHookRequest(deps, { workflowId: "hooked", token, rawBody: '{"name":"bo"}', wait: true, timeoutMs: 50 });
    expect(late).toMatchObject({ status: 202, body: { status: "running" } });
    expect(await harness.runner.waitForRun(late.body.runId as string)).toMatchObject({ status: "succeeded" });
  });

  it("a waiter on the web side is woken by the worker's announcement that the run settled, not by its poll", async () => {
    const { runId } = await start({ id: "announced", name: "Announced", steps: [{ id: "ask", type: "llm", config: { model: "slow-300", prompt: "announce" } }] });
    let heard = 0;
    const stop = await queue.onSettled(runId, () => heard++);
    try {
      expect(await harness.runner.waitForRun(runId)).toMatchObject({ status: "succeeded" });
      await until(() => heard > 0, "the worker's announcement");
      // Created by startRun and claimed from the queue as fresh: its events continue the row's seq without a gap.
      const seqs = (await harness.db.runEvent.findMany({ where: { runId }, select: { seq: true }, orderBy: { seq: "asc" } })).map((e) => e.seq);
      expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    } finally {
      stop();
    }
  });

  it("a run ended by a process that announces nothing (inline, same database) still ends the wait, at the fallback poll", async () => {
    const inline = await openTestRunner({ ...database, drop: async () => {} }); // a second process's runner; the database stays
    try {
      const { runId } = await inline.runner.startRun({ definition: { id: "silent", name: "Silent", steps: [{ id: "ask", type: "llm", config: { model: "slow-300", prompt: "silent" } }] }, ownerId: harness.userId, source: "api" });
      let heard = 0;
      const stop = await queue.onSettled(runId, () => heard++);
      try {
        const result = await harness.runner.settledElsewhere(runId, 15_000);
        expect(result).toMatchObject({ status: "succeeded" });
        expect(heard).toBe(0);
      } finally {
        stop();
      }
    } finally {
      await inline.close();
    }
  });

  it("a browser following a run a worker executes gets its events and tokens live, through Redis", async () => {
    // The event-log poll is off: what arrives came from the worker through Redis (emitter → adapter).
    const realtime = await listenRealtime(harness, { redis: { url: REDIS_URL, key: realtimeKey(prefix) }, pollMs: 600_000 });
    const socket = connect(realtime.url, { transports: ["websocket"], forceNew: true, auth: { token: realtime.token } });
    try {
      const events: Array<{ event: RunEvent; at: number }> = [];
      const tokens: TokenEvent[] = [];
      socket.on("run:event", (event) => events.push({ event, at: Date.now() }));
      socket.on("run:token", (token) => tokens.push(token));
      await new Promise<void>((resolve) => socket.on("connect", resolve));
      const words = "one two three four five six seven eight nine ten eleven twelve";
      const { runId } = await start({ id: "live", name: "Live", steps: [{ id: "ask", type: "llm", config: { model: "drip-120", prompt: words } }] });
      const reply = await socket.emitWithAck("run:subscribe", { runId, afterSeq: 0 });
      if (!reply.ok) throw new Error(reply.error);
      for (const event of reply.snapshot.events) events.push({ event, at: Date.now() });
      // Tokens arrive while the step is still running (before the run's final event).
      await until(() => tokens.length >= 3, "tokens of the worker's run");
      expect(events.some((e) => e.event.type === "run.status" && e.event.status === "succeeded")).toBe(false);
      await until(() => events.some((e) => e.event.type === "run.status" && e.event.status === "succeeded"), "the run to end");
      const seqs = [...new Set(events.map((e) => e.event.seq))].sort((a, b) => a - b);
      expect(seqs).toEqual(seqs.map((_, i) => i + 1));
      // The step's start reached the browser while the step ran (its text streams for over a second), not at the end.
      const stepStarted = events.find((e) => e.event.type === "step.status" && e.event.status === "running");
      expect(stepStarted!.at).toBeLessThan(events.at(-1)!.at - 500);
      expect(tokens.map((t) => t.text).join("")).toBe(`Echo: ${words}`);
    } finally {
      socket.close();
      realtime.close();
    }
  });

  it("two workers never execute one run: 24 runs, each also delivered a second time under another job id", async () => {
    const tag = `fence-${Date.now()}`;
    const started = await Promise.all(
      Array.from({ length: 24 }, (_, i) => start({ id: `fence-${i}`, name: "Fence", steps: [{ id: "ask", type: "llm", config: { model: "slow-300", prompt: `${tag} ${i}` } }] })),
    );
    // A redelivery (what a stalled job or a re-add would be): the lease, not BullMQ, decides who executes.
    await queue.queue.addBulk(started.map(({ runId }) => ({ name: "run", data: { runId }, opts: { jobId: `${runId}-again`, removeOnComplete: true, removeOnFail: true } })));
    const results = await Promise.all(started.map(({ runId }) => harness.runner.waitForRun(runId)));
    expect(results.map((r) => r.status)).toEqual(results.map(() => "succeeded"));
    for (let i = 0; i < 24; i++) expect(requestsFor(`${tag} ${i}`), `run ${i}`).toHaveLength(1);
    const steps = await harness.db.stepRun.findMany({ where: { runId: { in: started.map((s) => s.runId) } } });
    expect(steps).toHaveLength(24);
    expect(steps.every((s) => s.execution === 1 && s.status === "succeeded")).toBe(true);
  });

  it.each(Array.from({ length: KILL_REPEAT }, (_, i) => i + 1))(
    "SIGKILL the worker executing a run (repetition %i): another worker continues from the last checkpoint, no finished step runs again",
    async (repetition) => {
      const tag = `kill-${repetition}-${Date.now()}`;
      const { runId } = await start({
        id: `kill-${repetition}`,
        name: "Kill",
        steps: [
          { id: "first", type: "llm", config: { model: "slow-100", prompt: `alpha ${tag}` } },
          { id: "second", type: "llm", config: { model: "slow-1500", prompt: `beta ${tag}` } },
          { id: "third", type: "transform", config: { output: "{{ steps.first.text & ' / ' & steps.second.text }}" } },
        ],
      });
      await until(() => requestsFor(`beta ${tag}`).length === 1, "the second step to be in flight");
      expect(requestsFor(`alpha ${tag}`)[0].finishedAt).toBeDefined();
      const holder = (await runRow(runId)).leaseOwner;
      const victim = [...workers].find((w) => w.processId === holder);
      expect(victim, `the run is held by a worker (lease owner ${holder})`).toBeDefined();
      victim!.child.kill("SIGKILL");
      await victim!.exited;
      const replacement = startWorker(); // keeps two workers for the next tests
      const result = await harness.runner.waitForRun(runId);
      expect(result, JSON.stringify(result.error)).toMatchObject({ status: "succeeded", outputs: { third: expect.stringContaining(`alpha ${tag}`) } });
      expect(requestsFor(`alpha ${tag}`)).toHaveLength(1); // finished before the kill: not run again
      expect(requestsFor(`beta ${tag}`)).toHaveLength(2); // in flight at the kill: run again
      const row = await runRow(runId);
      expect(row.takeovers).toBe(1);
      const first = await harness.db.stepRun.findMany({ where: { runId, stepId: "first" } });
      expect(first).toHaveLength(1);
      await replacement;
    },
    60_000,
  );

  it("cancel reaches the worker holding the run, and aborts its in-flight call", async () => {
    const tag = `cancel-${Date.now()}`;
    const { runId } = await start({ id: "cancel", name: "Cancel", steps: [{ id: "wait", type: "llm", config: { model: "slow-1500", prompt: tag } }] });
    await until(() => requestsFor(tag).length === 1, "the step to be in flight");
    const asked = Date.now();
    await harness.runner.cancelRun(runId, harness.userId);
    expect(await harness.runner.waitForEnd(runId, 5000)).toBe("cancelled");
    expect(Date.now() - asked).toBeLessThan(1500);
    await until(() => requestsFor(tag)[0].aborted === true, "the call to be aborted");
  });

  it("an approval decided on the web side is handed to BullMQ again and a worker finishes the run", async () => {
    const { runId } = await start({
      id: "approve",
      name: "Approve",
      steps: [
        { id: "draft", type: "transform", config: { output: "release 1.2" } },
        { id: "review", type: "approval", config: { message: "Ship {{ steps.draft }}?" } },
        { id: "ship", type: "transform", config: { output: "shipped {{ steps.draft }}" } },
      ],
    });
    expect(await harness.runner.waitForRun(runId)).toMatchObject({ status: "waiting" });
    await harness.runner.decideApproval(runId, harness.userId, { approved: true, decidedBy: harness.userId });
    expect(await harness.runner.waitForRun(runId)).toMatchObject({ status: "succeeded", outputs: { ship: "shipped release 1.2" } });
    expect((await harness.db.stepRun.findMany({ where: { runId, stepId: "draft" } })).length).toBe(1);
  });

  it("resume of a cancelled run and a fork are handed to BullMQ too, and workers finish them", async () => {
    const tag = `resume-${Date.now()}`;
    const { runId } = await start({
      id: "resume",
      name: "Resume",
      steps: [
        { id: "draft", type: "transform", config: { output: "draft one" } },
        { id: "ask", type: "llm", config: { model: "slow-1500", prompt: tag } },
        { id: "publish", type: "transform", config: { output: "published: {{ steps.draft }}" } },
      ],
    });
    await until(() => requestsFor(tag).length === 1, "the llm step to be in flight");
    await harness.runner.cancelRun(runId, harness.userId);
    expect(await harness.runner.waitForEnd(runId, 5000)).toBe("cancelled");
    await harness.runner.resumeRun(runId, harness.userId);
    expect(await harness.runner.waitForRun(runId)).toMatchObject({ status: "succeeded", outputs: { publish: "published: draft one" } });
    expect(requestsFor(tag)).toHaveLength(2); // the cancelled step again, not the finished one before it
    expect(await harness.db.stepRun.count({ where: { runId, stepId: "draft" } })).toBe(1);

    const checkpoints = await harness.runner.listCheckpoints(runId, harness.userId);
    const afterDraft = checkpoints.find((c) => c.changed.steps.includes("draft"))!;
    const { runId: forkId } = await harness.runner.forkRun(runId, harness.userId, { checkpointId: afterDraft.checkpointId, set: { "steps.draft": "draft two" } });
    expect(harness.runner.holds(forkId)).toBe(false);
    expect(await harness.runner.waitForRun(forkId)).toMatchObject({ status: "succeeded", outputs: { publish: "published: draft two" } });
  });

  it("a sub-workflow that waits for an approval: deciding the child resumes child and parent on workers", async () => {
    const { definition: child } = validateWorkflow({
      id: "child-approval",
      name: "Child",
      steps: [
        { id: "ask", type: "approval", config: { message: "ok?" } },
        { id: "done", type: "transform", config: { output: "child done" } },
      ],
    });
    await saveWorkflowVersion(harness.db, harness.userId, child!);
    const { runId } = await start({
      id: "parent-of-approval",
      name: "Parent",
      steps: [
        { id: "call", type: "workflow", config: { workflowId: "child-approval", input: {} } },
        { id: "after", type: "transform", config: { output: "parent got {{ steps.call.outputs.done }}" } },
      ],
    });
    expect(await harness.runner.waitForRun(runId)).toMatchObject({ status: "waiting" });
    const childRun = await harness.db.run.findFirstOrThrow({ where: { parentRunId: runId } });
    await until(async () => (await runRow(childRun.id)).status === "waiting", "the child to wait");
    await harness.runner.decideApproval(childRun.id, harness.userId, { approved: true, decidedBy: harness.userId });
    await until(async () => (await runRow(runId)).status === "succeeded", "the parent to finish", 30_000);
    expect(JSON.parse((await runRow(runId)).outputs!)).toMatchObject({ after: "parent got child done" });
    expect((await runRow(childRun.id)).status).toBe("succeeded");
  });

  it("Redis flushed mid-load: the reconciler enqueues again what Postgres has queued; no accepted run is lost or run twice", async () => {
    const tag = `flush-${Date.now()}`;
    const started = await Promise.all(
      Array.from({ length: 30 }, (_, i) => start({ id: `flush-${i}`, name: "Flush", steps: [{ id: "ask", type: "llm", config: { model: "slow-300", prompt: `${tag} ${i}` } }] })),
    );
    await until(() => gateway.requests.some((r) => prompt(r)?.startsWith(tag)), "the first runs to start");
    const waitingBefore = await queue.depth();
    await redis.flushdb(); // this test's own db index (checked empty at the start)
    expect(waitingBefore).toBeGreaterThan(0); // there were jobs to lose
    expect(await queue.depth()).toBe(0);
    const results = await Promise.all(started.map(({ runId }) => harness.runner.waitForRun(runId)));
    expect(results.map((r) => r.status)).toEqual(results.map(() => "succeeded"));
    for (let i = 0; i < 30; i++) expect(requestsFor(`${tag} ${i}`), `run ${i}`).toHaveLength(1);
  }, 60_000);
});

describe("queue mode's settings", () => {
  it("a worker refuses to start without Postgres or Redis, naming the variable", async () => {
    const run = (extra: Record<string, string>) =>
      new Promise<{ code: number | null; output: string }>((resolve) => {
        const child = spawn(WORKER_COMMAND.command, WORKER_COMMAND.args, { cwd: WORKER_COMMAND.cwd, env: { ...process.env, LOG_LEVEL: "silent", ORCHESTRATOR_DATA_DIR: tmpdir(), ...extra }, stdio: ["ignore", "pipe", "pipe"] });
        let output = "";
        child.stdout.on("data", (d) => (output += d));
        child.stderr.on("data", (d) => (output += d));
        child.on("exit", (code) => resolve({ code, output }));
      });
    const [sqlite, noRedis, inline] = await Promise.all([
      run({ EXECUTION_MODE: "queue", DATABASE_URL: "", REDIS_URL: "redis://127.0.0.1:6379" }),
      run({ EXECUTION_MODE: "queue", DATABASE_URL: "postgresql://postgres@127.0.0.1:5432/test", REDIS_URL: "" }),
      run({ EXECUTION_MODE: "" }),
    ]);
    expect(sqlite.code).toBe(1);
    expect(sqlite.output).toMatch(/EXECUTION_MODE=queue needs Postgres: set DATABASE_URL=postgresql:/);
    expect(noRedis.code).toBe(1);
    expect(noRedis.output).toMatch(/EXECUTION_MODE=queue needs Redis: set REDIS_URL=redis:/);
    expect(inline.code).toBe(2);
    expect(inline.output).toMatch(/npm run worker needs EXECUTION_MODE=queue/);
  }, 60_000);
});
