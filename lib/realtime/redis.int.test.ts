import { Redis } from "ioredis";
import { io as connect, type Socket } from "socket.io-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestRunner, sqliteTestDatabase } from "@/e2e/fixtures/databases";
import { startLlmGateway, type LlmGateway } from "@/e2e/fixtures/llm-gateway";
import { listenRealtime } from "@/e2e/fixtures/realtime-server";
import type { RunEvent, TokenEvent } from "@/lib/runner/event-types";
import { storedTokensPublisher, type RunPublisher } from "@/lib/runner/events";
import { Runner } from "@/lib/runner/runner";
import type { ClientToServerEvents, ServerToClientEvents } from "./events";
import { realtimeKey, redisRunPublisher } from "./redis";

/**
 * Queue mode's live path with the real parts: a runner standing for a worker (its own Runner on the same database,
 * publishing with the Socket.IO Redis emitter) and the real realtime server with the Redis adapter; a Socket.IO
 * client as the browser. Redis 127.0.0.1:6379 (pub/sub only: channels under a key of this test's own, nothing
 * stored); skipped, saying why, when Redis is unreachable.
 */
const REDIS_URL = process.env.REALTIME_TEST_REDIS_URL ?? "redis://127.0.0.1:6379/12";

async function redisProblem(): Promise<string | null> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1500 });
  try {
    await redis.connect();
    return null;
  } catch (err) {
    return `Redis at ${REDIS_URL} is not reachable (${(err as Error).message})`;
  } finally {
    redis.disconnect();
  }
}
const problem = await redisProblem();
if (problem) console.warn(`${problem}: the Redis live-events tests are skipped.`);

const KEY = realtimeKey(`rt-test-${Math.random().toString(36).slice(2, 10)}`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const until = async (check: () => boolean, what: string, timeoutMs = 20_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
};

let harness: Awaited<ReturnType<typeof openTestRunner>>;
let gateway: LlmGateway;
const closers: Array<() => unknown> = [];

beforeAll(async () => {
  if (problem) return;
  gateway = await startLlmGateway();
  process.env.LLM_GATEWAY_URL = gateway.url;
  process.env.LLM_API_KEY = "test";
  harness = await openTestRunner(sqliteTestDatabase(), { concurrency: 2 });
});
afterAll(async () => {
  for (const close of closers.reverse()) await close();
  await harness?.close();
  await gateway?.close();
});

/** A runner of another process (a worker) on the same database, publishing with `publisher`. */
function workerRunner(publisher: RunPublisher) {
  const { db, sql, checkpointer } = harness;
  const runner = new Runner({ db, sql, checkpointer, concurrency: 2, publisher });
  closers.push(() => runner.drain());
  return runner;
}

async function realtime(options: Parameters<typeof listenRealtime>[1]) {
  const server = await listenRealtime(harness, options);
  closers.push(server.close);
  return server;
}

type Client = Socket<ServerToClientEvents, ClientToServerEvents>;

/** Follows a run like the browser: subscribe, the snapshot's events, then live ones (duplicates dropped by seq, as the client does). */
async function follow(server: { url: string; token: string }, runId: string) {
  const socket: Client = connect(server.url, { transports: ["websocket"], forceNew: true, auth: { token: server.token } });
  closers.push(() => socket.close());
  const seen: number[] = [];
  const arrivals: Array<{ seq: number; at: number; type: string }> = [];
  const tokens: Array<{ token: TokenEvent; at: number }> = [];
  let lastSeq = 0;
  let endSeq: number | undefined;
  const take = (event: RunEvent) => {
    arrivals.push({ seq: event.seq, at: Date.now(), type: event.type });
    if (event.type === "run.status" && ["succeeded", "failed", "cancelled"].includes(event.status)) endSeq = event.seq;
    if (event.seq <= lastSeq) return; // the browser's rule: an event at or below the last seq is a duplicate
    lastSeq = event.seq;
    seen.push(event.seq);
  };
  socket.on("run:event", take);
  socket.on("run:token", (token) => tokens.push({ token, at: Date.now() }));
  await new Promise<void>((resolve) => socket.on("connect", resolve));
  const reply = await socket.emitWithAck("run:subscribe", { runId, afterSeq: 0 });
  if (!reply.ok) throw new Error(reply.error);
  reply.snapshot.events.forEach(take);
  const ended = () => endSeq !== undefined && lastSeq >= endSeq;
  return { seen, arrivals, tokens, ended };
}

const prompt = (r: { messages: Array<{ content: string }> }) => r.messages.at(-1)?.content;
const words = (n: number, tag: string) => Array.from({ length: n }, (_, i) => `${tag}${i}`).join(" ");

/**
 * Milliseconds from the gateway writing a token to the client having it, per token event the client got (the
 * newest text it carries): the log path relays chunks of several tokens, so tokens are matched by text offset.
 */
function tokenLatencies(text: string, tokens: Array<{ token: TokenEvent; at: number }>) {
  const times = gateway.requests.find((r) => prompt(r) === text)?.tokenTimes ?? [];
  const written = `Echo: ${text}`.split(/(?<=\s)/);
  const ends: number[] = [];
  written.reduce((end, token) => (ends.push(end + token.length), end + token.length), 0);
  return tokens.flatMap(({ token, at }) => {
    const end = (token.offset ?? 0) + token.text.length;
    const k = ends.findIndex((e) => e >= end);
    return k >= 0 && times[k] !== undefined ? [at - times[k]] : [];
  });
}
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

describe.skipIf(Boolean(problem))("live events of a worker's runs through Redis (emitter → adapter)", () => {
  it("events and tokens reach the browser as they happen, with the event-log poll off; latency beside the log path", async () => {
    // Poll off: whatever arrives came through Redis.
    const viaRedis = await realtime({ redis: { url: REDIS_URL, key: KEY }, pollMs: 600_000 });
    const worker = workerRunner(redisRunPublisher(REDIS_URL, KEY));
    const text = words(20, "r");
    const { runId } = await worker.startRun({ definition: { id: "via-redis", name: "Redis", steps: [{ id: "ask", type: "llm", config: { model: "drip-60", prompt: text } }] }, ownerId: harness.userId, source: "api" });
    const watch = await follow(viaRedis, runId);
    await until(watch.ended, "the run's end through Redis");
    expect(watch.seen).toEqual(watch.seen.map((_, i) => i + 1)); // in order, no gap
    expect(watch.tokens.map((t) => t.token.text).join("")).toBe(`Echo: ${text}`.slice(watch.tokens[0].token.offset));
    const redisLatency = tokenLatencies(text, watch.tokens);
    expect(redisLatency.length).toBeGreaterThan(10);

    // The path before (and still for a CLI process): streamed text stored in chunks, read by the server's poll (500 ms).
    const viaLog = await realtime({ pollMs: 500 });
    const cli = workerRunner(storedTokensPublisher);
    const logText = words(20, "l");
    const started = await cli.startRun({ definition: { id: "via-log", name: "Log", steps: [{ id: "ask", type: "llm", config: { model: "drip-60", prompt: logText } }] }, ownerId: harness.userId, source: "api" });
    const logWatch = await follow(viaLog, started.runId);
    await until(logWatch.ended, "the run's end through the log poll");
    const logLatency = tokenLatencies(logText, logWatch.tokens);
    const [redisMs, logMs] = [median(redisLatency), median(logLatency.length ? logLatency : [NaN])];
    console.log(`token latency worker → browser, median: Redis ${redisMs} ms, event-log poll ${logMs} ms (${(logMs / Math.max(redisMs, 1)).toFixed(1)}× slower)`);
    expect(redisMs).toBeLessThan(logMs);
  }, 60_000);

  it("a publication Redis lost: the gate holds later events back and the log poll fills in, in order", async () => {
    const server = await realtime({ redis: { url: REDIS_URL, key: KEY }, pollMs: 200 });
    const redisPublisher = redisRunPublisher(REDIS_URL, KEY);
    closers.push(() => redisPublisher.close());
    // Loses the 3rd event of each run (a publication Redis dropped); the event log has it.
    const lossy: RunPublisher = { publish: (e) => e.seq !== 3 && redisPublisher.publish(e), publishToken: (t) => redisPublisher.publishToken(t) };
    const worker = workerRunner(lossy);
    const { runId } = await worker.startRun({
      definition: {
        id: "lossy",
        name: "Lossy",
        steps: [
          { id: "a", type: "llm", config: { model: "slow-300", prompt: "first" } },
          { id: "b", type: "llm", config: { model: "slow-300", prompt: "second" } },
          { id: "c", type: "transform", config: { output: "{{ steps.b.text }}" } },
        ],
      },
      ownerId: harness.userId,
      source: "api",
    });
    const watch = await follow(server, runId);
    await until(watch.ended, "the run's end");
    const last = (await harness.db.runEvent.findMany({ where: { runId }, orderBy: { seq: "desc" }, take: 1 }))[0].seq;
    expect(last).toBeGreaterThan(4);
    expect(watch.seen).toEqual(Array.from({ length: last }, (_, i) => i + 1));
  }, 60_000);

  it("Redis unreachable: the worker's runs still execute, publishing fails quietly", async () => {
    const unreachable = redisRunPublisher("redis://127.0.0.1:1", KEY);
    closers.push(() => unreachable.close());
    const worker = workerRunner(unreachable);
    const { runId } = await worker.startRun({ definition: { id: "no-redis", name: "No Redis", steps: [{ id: "ask", type: "llm", config: { model: "drip-10", prompt: "still runs" } }] }, ownerId: harness.userId, source: "api" });
    expect(await worker.waitForRun(runId)).toMatchObject({ status: "succeeded", outputs: { ask: { text: "Echo: still runs" } } });
  }, 30_000);
});
