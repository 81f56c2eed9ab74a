import { io as connect, type Socket } from "socket.io-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestRunner, sqliteTestDatabase } from "@/e2e/fixtures/databases";
import { startLlmGateway } from "@/e2e/fixtures/llm-gateway";
import { listenRealtime } from "@/e2e/fixtures/realtime-server";
import type { RunEvent } from "@/lib/runner/event-types";
import type { ClientToServerEvents, ServerToClientEvents } from "./events";

/**
 * Many people watching one run: 100 Socket.IO clients (API tokens, as a script or the CLI would connect; the
 * browser's session cookie goes through the same `authenticate`) on the real realtime server, subscribing before
 * and during the run, each delivering events the way the run page does (useRunEvents: live events held until the
 * subscription's catch-up, then in seq order). Every one must see the same events, in order, without a gap.
 */
let harness: Awaited<ReturnType<typeof openTestRunner>>;
let gateway: Awaited<ReturnType<typeof startLlmGateway>>;
let realtime: Awaited<ReturnType<typeof listenRealtime>>;

beforeAll(async () => {
  gateway = await startLlmGateway();
  process.env.LLM_GATEWAY_URL = gateway.url;
  process.env.LLM_API_KEY = "test";
  harness = await openTestRunner(sqliteTestDatabase(), { concurrency: 2 });
  realtime = await listenRealtime(harness);
});
afterAll(async () => {
  realtime.close();
  await harness.close();
  await gateway.close();
});

type Client = Socket<ServerToClientEvents, ClientToServerEvents>;

interface Watcher {
  socket: Client;
  delivered: RunEvent[];
  /** Live events that came out of order or past a gap (what the page would have applied wrongly). */
  misordered: Array<{ expected: number; got: number }>;
  /** Events the subscription's catch-up brought (the rest came live). */
  caughtUp: number;
  done: Promise<void>;
}

/** A watcher as the run page is one: subscribe with the last seq seen, catch up from the ack, then live events. */
function watch(runId: string): Promise<Watcher> {
  const socket: Client = connect(realtime.url, { transports: ["websocket"], forceNew: true, auth: { token: realtime.token } });
  const delivered: RunEvent[] = [];
  const misordered: Watcher["misordered"] = [];
  let lastSeq = 0;
  let caughtUp = false;
  let held: RunEvent[] = [];
  let finish: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  const deliver = (event: RunEvent, live: boolean) => {
    if (event.seq <= lastSeq) return;
    if (live && event.seq !== lastSeq + 1) misordered.push({ expected: lastSeq + 1, got: event.seq });
    lastSeq = event.seq;
    delivered.push(event);
    if (event.type === "run.status" && ["succeeded", "failed", "cancelled"].includes(event.status)) finish();
  };
  socket.on("run:event", (event) => (caughtUp ? deliver(event, true) : void held.push(event)));
  return new Promise((resolve, reject) => {
    socket.on("connect_error", reject);
    socket.on("connect", () =>
      socket.emit("run:subscribe", { runId, afterSeq: lastSeq }, (reply) => {
        if (!reply.ok) return reject(new Error(reply.error));
        const events = [...reply.snapshot.events, ...held].sort((a, b) => a.seq - b.seq);
        held = [];
        caughtUp = true;
        for (const event of events) deliver(event, false);
        resolve({ socket, delivered, misordered, caughtUp: delivered.length, done });
      }),
    );
  });
}

describe("100 watchers of one run", () => {
  it("all see the same events, in order, without gaps, whether they came before or during the run", async () => {
    const { runner, userId } = harness;
    const chain = Array.from({ length: 40 }, (_, i) => ({ id: `t${i}`, type: "transform", config: { output: `{{ ${i} }}` } }));
    const definition = {
      id: "watched",
      name: "Watched",
      steps: [
        { id: "left", type: "llm", config: { model: "slow-1500", prompt: "left lane" } },
        { id: "right", type: "llm", config: { model: "drip-300", prompt: "right lane" } },
        // The run waits here until every watcher has joined, whatever the machine's load; the chain follows live.
        { id: "gate", type: "approval", config: { message: "go on?" } },
        ...chain,
      ],
      edges: [{ from: "left", to: "gate" }, { from: "right", to: "gate" }, { from: "gate", to: "t0" }, ...chain.slice(1).map((step, i) => ({ from: chain[i].id, to: step.id }))],
    };
    const { runId } = await runner.startRun({ definition, ownerId: userId });
    // 70 watch from the start, 30 join while the lanes run (their catch-up and the live events cross).
    const early = await Promise.all(Array.from({ length: 70 }, () => watch(runId)));
    await new Promise((r) => setTimeout(r, 150));
    const late = await Promise.all(Array.from({ length: 30 }, () => watch(runId)));
    const watchers = [...early, ...late];
    await expect.poll(async () => (await harness.db.run.findUniqueOrThrow({ where: { id: runId }, select: { status: true } })).status, { timeout: 20_000 }).toBe("waiting");
    await runner.decideApproval(runId, userId, { approved: true, decidedBy: "watchers test" });
    expect(watchers).toHaveLength(100);
    await Promise.race([Promise.all(watchers.map((w) => w.done)), new Promise((_, reject) => setTimeout(() => reject(new Error("not every watcher saw the run end within 30 s")), 30_000))]);

    const stored = (await harness.db.runEvent.findMany({ where: { runId }, orderBy: { seq: "asc" }, select: { seq: true, type: true, stepId: true } })).map((e) => `${e.seq}:${e.type}:${e.stepId ?? ""}`);
    expect(stored.length).toBeGreaterThan(40 * 3);
    for (const [i, watcher] of watchers.entries()) {
      expect(watcher.misordered, `watcher ${i}`).toEqual([]);
      expect(watcher.delivered.map((e) => `${e.seq}:${e.type}:${"stepId" in e ? e.stepId : ""}`), `watcher ${i}`).toEqual(stored);
    }
    // Every late watcher got part of the run from its catch-up and the rest live.
    for (const watcher of late) expect(watcher.caughtUp).toBeGreaterThan(0);
    expect(late.filter((w) => w.caughtUp < stored.length)).toHaveLength(30);
    // The same events, not only the same seqs.
    const first = JSON.stringify(watchers[0].delivered);
    expect(watchers.filter((w) => JSON.stringify(w.delivered) !== first)).toHaveLength(0);
    for (const watcher of watchers) watcher.socket.close();
  }, 60_000);
});
