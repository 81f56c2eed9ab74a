/**
 * Step event → client latency with many watchers (`npm run bench -- latency`): the real runner and realtime server
 * in this process, Socket.IO clients in a worker thread (their work does not share the server's event loop), over
 * loopback, authenticated with an API token as scripts connect (the browser's cookie goes through the same
 * `authenticate`). A run of 4 parallel lanes of 25 LLM steps (the test gateway, ~20 ms per call, tokens streamed)
 * is watched by 1 socket, then by 100; each `step.status` event that arrives live counts, from the time the runner
 * emitted it (`at`) to its arrival at a client. Prints p50/p95 for both and the ratio (goal: p95 <= 50 ms at 100).
 *
 *   npm run bench -- latency
 *   BENCH_LATENCY_SOCKETS=200 BENCH_LATENCY_ROUNDS=3 npm run bench -- latency
 */
import { Worker } from "node:worker_threads";
import { openTestRunner, sqliteTestDatabase } from "@/e2e/fixtures/databases";
import { startLlmGateway } from "@/e2e/fixtures/llm-gateway";
import { listenRealtime } from "@/e2e/fixtures/realtime-server";

const LANES = 4;
const STEPS_PER_LANE = 25;

/** The clients: plain JS for a worker (eval), one Socket.IO connection each, as the run page subscribes. */
const CLIENTS = `
const { parentPort, workerData } = require("node:worker_threads");
const { io } = require("socket.io-client");
const { url, token, count } = workerData;
const sockets = [];
let connected = 0;
for (let i = 0; i < count; i++) {
  const socket = io(url, { transports: ["websocket"], forceNew: true, auth: { token } });
  socket.on("connect_error", (err) => parentPort.postMessage({ type: "error", message: String(err && err.message) }));
  socket.once("connect", () => { if (++connected === count) parentPort.postMessage({ type: "connected" }); });
  sockets.push(socket);
}
parentPort.on("message", (message) => {
  if (message.type === "close") { sockets.forEach((s) => s.close()); parentPort.postMessage({ type: "closed" }); return; }
  if (message.type !== "watch") return;
  const latencies = [];
  let subscribed = 0;
  let ended = 0;
  for (const socket of sockets) {
    let caughtUp = false;
    socket.removeAllListeners("run:event");
    socket.on("run:event", (event) => {
      const now = Date.now();
      if (event.runId !== message.runId) return;
      if (caughtUp && event.type === "step.status") latencies.push(now - Date.parse(event.at));
      if (event.type === "run.status" && ["succeeded", "failed", "cancelled"].includes(event.status) && ++ended === sockets.length)
        parentPort.postMessage({ type: "done", latencies });
    });
    socket.emit("run:subscribe", { runId: message.runId, afterSeq: 0 }, (reply) => {
      if (!reply.ok) return parentPort.postMessage({ type: "error", message: reply.error });
      caughtUp = true;
      if (++subscribed === sockets.length) parentPort.postMessage({ type: "subscribed" });
    });
  }
});
`;

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

export async function benchLatency() {
  const sockets = Number(process.env.BENCH_LATENCY_SOCKETS ?? 100);
  const rounds = Number(process.env.BENCH_LATENCY_ROUNDS ?? 2);
  const gateway = await startLlmGateway();
  process.env.LLM_GATEWAY_URL = gateway.url;
  process.env.LLM_API_KEY = "bench";
  const harness = await openTestRunner(sqliteTestDatabase(), { concurrency: 4 });
  const realtime = await listenRealtime(harness);
  const definition = {
    id: "bench-latency",
    name: "latency",
    steps: [
      // Long enough for every socket to subscribe before the steps' events (only live events count).
      { id: "start", type: "llm", config: { model: "slow-500", prompt: "start" } },
      ...Array.from({ length: LANES * STEPS_PER_LANE }, (_, i) => ({ id: `s${i}`, type: "llm", config: { model: "slow-20", prompt: `step ${i}` } })),
    ],
    edges: Array.from({ length: LANES }, (_, lane) =>
      Array.from({ length: STEPS_PER_LANE }, (_, j) => ({ from: j === 0 ? "start" : `s${lane * STEPS_PER_LANE + j - 1}`, to: `s${lane * STEPS_PER_LANE + j}` })),
    ).flat(),
  };

  const measure = async (count: number): Promise<number[]> => {
    const worker = new Worker(CLIENTS, { eval: true, workerData: { url: realtime.url, token: realtime.token, count } });
    const next = (type: string) =>
      new Promise<{ latencies?: number[] }>((resolve, reject) => {
        const onMessage = (message: { type: string; message?: string; latencies?: number[] }) => {
          if (message.type === "error") reject(new Error(message.message));
          else if (message.type === type) {
            worker.off("message", onMessage);
            resolve(message);
          }
        };
        worker.on("message", onMessage);
        worker.once("error", reject);
      });
    try {
      await next("connected");
      const all: number[] = [];
      for (let round = 0; round < rounds; round++) {
        const { runId } = await harness.runner.startRun({ definition, ownerId: harness.userId });
        const subscribed = next("subscribed");
        const done = next("done");
        worker.postMessage({ type: "watch", runId });
        await subscribed;
        const { latencies } = await done;
        const run = await harness.runner.waitForRun(runId);
        if (run.status !== "succeeded") throw new Error(`the latency run ended ${run.status}: ${JSON.stringify(run.error)}`);
        all.push(...latencies!);
      }
      worker.postMessage({ type: "close" });
      await next("closed");
      return all.sort((a, b) => a - b);
    } finally {
      await worker.terminate();
    }
  };

  try {
    await measure(1); // warm-up: JIT, prepared statements, the gateway
    const one = await measure(1);
    const many = await measure(sockets);
    const line = (label: string, xs: number[]) => `${label}: p50 ${percentile(xs, 50)} ms, p95 ${percentile(xs, 95)} ms, max ${xs.at(-1)} ms (${xs.length} events)`;
    console.log(line("step event -> client latency, 1 socket", one));
    console.log(line(`step event -> client latency, ${sockets} sockets`, many));
    console.log(
      `latency ratio ${sockets} sockets / 1 socket: p50 ${(percentile(many, 50) / Math.max(1, percentile(one, 50))).toFixed(2)}x, p95 ${(percentile(many, 95) / Math.max(1, percentile(one, 95))).toFixed(2)}x (goal: p95 <= 50 ms with ${sockets} sockets)`,
    );
  } finally {
    realtime.close();
    await harness.close();
    await gateway.close();
  }
}
