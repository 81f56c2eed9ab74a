import { io as connect, type Socket } from "socket.io-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestRunner, sqliteTestDatabase } from "@/e2e/fixtures/databases";
import { startLlmGateway } from "@/e2e/fixtures/llm-gateway";
import type { RunEvent, RunSnapshot, TokenEvent } from "@/lib/runner/event-types";
import { mergeStreamedText } from "@/lib/runner/live-run";
import { Runner } from "@/lib/runner/runner";
import type { ClientToServerEvents, ServerToClientEvents } from "./events";
import { listenRealtime } from "@/e2e/fixtures/realtime-server";
import { MAX_FOLLOWED_PER_CONNECTION } from "./server";

/**
 * What a view that opens mid-run gets over the real Socket.IO server: the text running steps streamed so far,
 * runs executing in another process (a CLI: its own runner, publishing nowhere) followed from the event log, and
 * a workflow's runs started anywhere announced to its watchers.
 */
let harness: Awaited<ReturnType<typeof openTestRunner>>;
let elsewhere: Runner;
let url: string;
let token: string;
let close: () => Promise<void>;

beforeAll(async () => {
  const gateway = await startLlmGateway();
  process.env.LLM_GATEWAY_URL = gateway.url;
  process.env.LLM_API_KEY = "test";
  harness = await openTestRunner(sqliteTestDatabase(), { concurrency: 2 });
  const { db, sql, checkpointer } = harness;
  elsewhere = new Runner({ db, sql, checkpointer, concurrency: 2 });
  const realtime = await listenRealtime(harness);
  url = realtime.url;
  token = realtime.token;
  close = async () => {
    realtime.close();
    await elsewhere.drain();
    await harness.close();
    await gateway.close();
  };
});
afterAll(() => close());

type Client = Socket<ServerToClientEvents, ClientToServerEvents>;
const client = (): Client => connect(url, { transports: ["websocket"], forceNew: true, auth: { token } });

/** Subscribes like the browser does: the snapshot (events, streamed text), then live events and tokens. */
function follow(runId: string, afterSeq = 0) {
  const socket = client();
  const events: RunEvent[] = [];
  const tokens: TokenEvent[] = [];
  const received: Array<{ event: RunEvent; at: number }> = [];
  let snapshot: RunSnapshot | undefined;
  const take = (event: RunEvent) => {
    if (events.some((e) => e.seq === event.seq)) return;
    events.push(event);
    received.push({ event, at: Date.now() });
  };
  const done = new Promise<void>((resolve, reject) => {
    socket.on("run:event", (event) => {
      take(event);
      if (event.type === "run.status" && ["succeeded", "failed", "cancelled"].includes(event.status)) resolve();
    });
    socket.on("run:token", (t) => tokens.push(t));
    socket.on("connect", () =>
      socket.emit("run:subscribe", { runId, afterSeq }, (reply) => {
        if (!reply.ok) return reject(new Error(reply.error));
        snapshot = reply.snapshot;
        reply.snapshot.events.forEach(take);
        if (events.some((e) => e.type === "run.status" && e.status === "succeeded")) resolve();
      }),
    );
  });
  return { socket, events, tokens, received, done, snapshot: () => snapshot };
}

describe("joining a run mid-way", () => {
  it("a subscriber that joins mid-step gets the text streamed so far, then the rest, which add up to the whole text", async () => {
    const words = "one two three four five six seven eight nine ten";
    const { runId } = await harness.runner.startRun({
      definition: { id: "drip", name: "Drip", steps: [{ id: "ask", type: "llm", config: { model: "drip-120", prompt: words } }] },
      ownerId: harness.userId,
    });
    // Someone watching from the start makes sure tokens flowed before the late one joins.
    const early = follow(runId);
    await expect.poll(() => early.tokens.length, { timeout: 5000 }).toBeGreaterThanOrEqual(4);
    const late = follow(runId);
    await expect.poll(() => late.snapshot(), { timeout: 5000 }).toBeDefined();
    const streamed = late.snapshot()!.streaming ?? [];
    expect(streamed).toHaveLength(1);
    expect(streamed[0]).toMatchObject({ runId, stepId: "ask", execution: 1, offset: 0 });
    const full = `Echo: ${words}`;
    expect(full.startsWith(streamed[0].text)).toBe(true);
    expect(streamed[0].text.length).toBeGreaterThanOrEqual("Echo: one two ".length);
    await Promise.all([early.done, late.done]);
    // The late subscriber's view: the snapshot, then the live tokens placed by their offsets (those it got
    // before the snapshot overlap it).
    expect(late.tokens[0].offset).toBeGreaterThan(0);
    let text = { text: "", from: 0 };
    for (const piece of [streamed[0], ...late.tokens]) text = mergeStreamedText(text, piece);
    expect(text).toEqual({ text: full, from: 0 });
    expect(early.tokens.map((t) => t.text).join("")).toBe(full);
    expect(early.tokens.map((t) => t.offset)).toEqual(early.tokens.map((_, i) => early.tokens.slice(0, i).reduce((n, t) => n + t.text.length, 0)));
    // The step ended: nothing left in flight for the next subscriber.
    const after = follow(runId);
    await expect.poll(() => after.snapshot(), { timeout: 5000 }).toBeDefined();
    expect(after.snapshot()!.streaming).toEqual([]);
    for (const f of [early, late, after]) f.socket.close();
  });

  it("a run executing in another process (the CLI) is followed live from the event log", async () => {
    const { runId } = await elsewhere.startRun({
      definition: {
        id: "from-cli",
        name: "From the CLI",
        steps: [
          { id: "ask", type: "llm", config: { model: "slow-1200", prompt: "hello" } },
          { id: "shape", type: "transform", config: { output: "{{ steps.ask.text }}!" } },
        ],
      },
      ownerId: harness.userId,
      source: "cli",
    });
    expect(harness.runner.holds(runId)).toBe(false);
    const watcher = follow(runId);
    await watcher.done;
    const seqs = watcher.events.map((e) => e.seq).sort((a, b) => a - b);
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    expect(watcher.events.at(-1)).toMatchObject({ type: "run.status", status: "succeeded" });
    // Live, not only at the end: the step's end came while the run was still going.
    const run = await harness.db.run.findUniqueOrThrow({ where: { id: runId } });
    const askEnded = watcher.received.find(({ event }) => event.type === "step.status" && event.stepId === "ask" && event.status === "succeeded");
    expect(askEnded).toBeDefined();
    expect(askEnded!.at).toBeLessThanOrEqual(run.finishedAt!.getTime() + 400);
    expect(watcher.received.find(({ event }) => event.type === "step.status" && event.status === "running")!.at).toBeLessThan(run.finishedAt!.getTime());
    watcher.socket.close();
  });

  it("a workflow's watchers hear of its runs started anywhere", async () => {
    const workflowId = `watched-${Math.random().toString(36).slice(2)}`;
    const socket = client();
    const notices: Array<{ workflowId: string; runId: string }> = [];
    socket.on("workflow:run", (notice) => notices.push(notice));
    const first = await new Promise((resolve) => socket.emit("workflow:watch", { workflowId }, resolve));
    expect(first).toEqual({ ok: true, runId: null });
    const definition = { id: workflowId, name: "Watched", steps: [{ id: "ask", type: "llm", config: { model: "slow-1500", prompt: "hi" } }] };
    const { runId } = await elsewhere.startRun({ definition, ownerId: harness.userId, source: "cli" });
    await expect.poll(() => notices, { timeout: 5000 }).toEqual([{ workflowId, runId }]);
    // A watcher that comes later gets the active run in its answer.
    const later = client();
    expect(await new Promise((resolve) => later.emit("workflow:watch", { workflowId }, resolve))).toEqual({ ok: true, runId });
    const second = await harness.runner.startRun({ definition, ownerId: harness.userId, source: "webhook" });
    await expect.poll(() => notices.map((n) => n.runId), { timeout: 5000 }).toEqual([runId, second.runId]);
    await elsewhere.waitForRun(runId);
    await harness.runner.waitForRun(second.runId);
    socket.close();
    later.close();
  });
});

describe("bounds on what one connection follows", () => {
  const watch = (socket: Client, workflowId: string) =>
    new Promise<{ ok: boolean; error?: string }>((resolve) => socket.emit("workflow:watch", { workflowId }, (reply) => resolve(reply.ok ? { ok: true } : reply)));
  const subscribe = (socket: Client, runId: string) =>
    new Promise<{ ok: boolean; error?: string }>((resolve) => socket.emit("run:subscribe", { runId }, (reply) => resolve(reply.ok ? { ok: true } : reply)));

  it("refuses a connection's follows past the cap and overlong ids, and keeps serving it and the others", async () => {
    const hostile = client();
    await new Promise<void>((resolve) => hostile.on("connect", () => resolve()));
    const replies = await Promise.all(Array.from({ length: MAX_FOLLOWED_PER_CONNECTION + 36 }, (_, i) => watch(hostile, `wf_${i}`)));
    expect(replies.filter((r) => r.ok)).toHaveLength(MAX_FOLLOWED_PER_CONNECTION);
    expect(replies.filter((r) => !r.ok).map((r) => r.error)).toEqual(
      Array(36).fill(`one connection follows at most ${MAX_FOLLOWED_PER_CONNECTION} runs and workflows: unsubscribe from some first`),
    );
    // Watching one already watched is no new follow; a run is one more and is refused.
    expect(await watch(hostile, "wf_0")).toEqual({ ok: true });
    const { runId } = await harness.runner.startRun({ definition: { id: "bounded", name: "Bounded", steps: [{ id: "t", type: "transform", config: { output: 1 } }] }, ownerId: harness.userId });
    expect((await subscribe(hostile, runId)).ok).toBe(false);
    // Leaving one frees its place.
    hostile.emit("workflow:unwatch", { workflowId: "wf_1" });
    await expect.poll(() => subscribe(hostile, runId).then((r) => r.ok), { timeout: 5000 }).toBe(true);

    const other = client();
    await new Promise<void>((resolve) => other.on("connect", () => resolve()));
    expect(await watch(other, "x".repeat(10_000))).toEqual({ ok: false, error: "workflowId is too long (at most 200 characters)" });
    expect(await subscribe(other, "r".repeat(10_000))).toEqual({ ok: false, error: "runId is too long (at most 200 characters)" });
    expect(await subscribe(other, runId)).toEqual({ ok: true });
    hostile.close();
    other.close();
  });
});
