import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { io as connect, type Socket } from "socket.io-client";
import { afterAll, beforeAll, expect, it } from "vitest";
import { openTestRunner, sqliteTestDatabase } from "@/e2e/fixtures/databases";
import { startLlmGateway } from "@/e2e/fixtures/llm-gateway";
import type { RunEvent, RunSnapshot, TokenEvent } from "@/lib/runner/event-types";
import { mergeStreamedText } from "@/lib/runner/live-run";
import type { ClientToServerEvents, ServerToClientEvents } from "./events";
import { listenRealtime } from "@/e2e/fixtures/realtime-server";

/**
 * A run the real CLI executes in its own process, on the server's SQLite file: its streamed text reaches a
 * Socket.IO subscriber of the realtime server, in order, placed by offset, before the step's end; a subscriber
 * that joins mid-step gets the text so far. (Needs `npm run build:cli`, or runs the CLI's sources through tsx.)
 */
const WORDS = Array.from({ length: 24 }, (_, i) => `w${i + 1}`).join(" ");
const FULL = `Echo: ${WORDS}`;

let harness: Awaited<ReturnType<typeof openTestRunner>>;
let gateway: Awaited<ReturnType<typeof startLlmGateway>>;
let databaseUrl: string;
let url: string;
let token: string;
let close: () => Promise<void>;

beforeAll(async () => {
  gateway = await startLlmGateway();
  const database = sqliteTestDatabase();
  databaseUrl = database.url;
  harness = await openTestRunner(database, { concurrency: 2 });
  const realtime = await listenRealtime(harness);
  url = realtime.url;
  token = realtime.token;
  close = async () => {
    realtime.close();
    await harness.close();
    await gateway.close();
  };
});
afterAll(() => close());

/** `orchestrator run <file> --json` in a child process; resolves with its JSON result. */
function cliRun(definition: unknown): Promise<{ runId: string; status: string }> {
  const file = path.join(mkdtempSync(path.join(tmpdir(), "orchestrator-cli-tokens-")), "workflow.json");
  writeFileSync(file, JSON.stringify(definition));
  const child = spawn(process.execPath, [path.resolve("bin/orchestrator.mjs"), "run", file, "--json"], {
    env: { ...process.env, DATABASE_URL: databaseUrl, LLM_GATEWAY_URL: gateway.url, LLM_API_KEY: "k", LOG_LEVEL: "silent" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (err += d));
  return new Promise((resolve, reject) =>
    child.once("exit", (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`the CLI exited ${code}: ${err}`)))),
  );
}

/** Subscribes like the browser does; keeps what arrives in order (events and tokens on one timeline). */
function follow(runId: string) {
  const socket: Socket<ServerToClientEvents, ClientToServerEvents> = connect(url, { transports: ["websocket"], forceNew: true, auth: { token } });
  const timeline: Array<{ event: RunEvent } | { token: TokenEvent }> = [];
  let snapshot: RunSnapshot | undefined;
  const done = new Promise<void>((resolve, reject) => {
    const take = (event: RunEvent) => {
      if (timeline.some((item) => "event" in item && item.event.seq === event.seq)) return;
      timeline.push({ event });
      if (event.type === "run.status" && ["succeeded", "failed", "cancelled"].includes(event.status)) resolve();
    };
    socket.on("run:event", take);
    socket.on("run:token", (token) => timeline.push({ token }));
    socket.on("connect", () =>
      socket.emit("run:subscribe", { runId }, (reply) => {
        if (!reply.ok) return reject(new Error(reply.error));
        snapshot = reply.snapshot;
        reply.snapshot.events.forEach(take);
      }),
    );
  });
  const tokens = () => timeline.flatMap((item) => ("token" in item ? [item.token] : []));
  return { socket, timeline, tokens, done, snapshot: () => snapshot };
}

/** The run the CLI stored for a workflow id, once it is there. */
async function cliRunOf(workflowId: string): Promise<string> {
  let runId: string | undefined;
  await expect
    .poll(async () => (runId = (await harness.db.run.findFirst({ where: { workflowId }, select: { id: true } }))?.id), { timeout: 30_000, interval: 50 })
    .toBeDefined();
  return runId!;
}

it("the tokens of a run the CLI executes reach a subscriber live, in order, with the step's whole text", { timeout: 90_000 }, async () => {
  const workflowId = `cli-tokens-${Date.now().toString(36)}`;
  const result = cliRun({
    id: workflowId,
    name: "CLI tokens",
    steps: [
      { id: "ask", type: "llm", config: { model: "drip-120", prompt: WORDS } },
      { id: "shape", type: "transform", config: { output: "{{ steps.ask.text }}!" } },
    ],
  });
  const runId = await cliRunOf(workflowId);
  expect(harness.runner.holds(runId)).toBe(false);
  const watcher = follow(runId);

  // A second subscriber joins once text flowed: its snapshot has the text so far, from the server's memory.
  await expect.poll(() => watcher.tokens().length, { timeout: 20_000 }).toBeGreaterThanOrEqual(2);
  const late = follow(runId);
  await expect.poll(() => late.snapshot(), { timeout: 5000 }).toBeDefined();
  const streamed = late.snapshot()!.streaming ?? [];
  expect(streamed).toHaveLength(1);
  expect(streamed[0]).toMatchObject({ runId, stepId: "ask", execution: 1, offset: 0 });
  expect(FULL.startsWith(streamed[0].text) && streamed[0].text.length > 0).toBe(true);

  await Promise.all([watcher.done, late.done]);
  expect(await result).toMatchObject({ runId, status: "succeeded" });

  // In order and without gaps or overlaps: each token starts where the one before ended, adding up to the text.
  const tokens = watcher.tokens();
  expect(tokens.every((t) => t.runId === runId && t.stepId === "ask" && t.execution === 1)).toBe(true);
  expect(tokens.map((t) => t.offset)).toEqual(tokens.map((_, i) => tokens.slice(0, i).reduce((n, t) => n + t.text.length, 0)));
  expect(tokens.map((t) => t.text).join("")).toBe(FULL);
  // Live: in several pieces (throttled chunks, not one lump at the end), all between the step's start and end.
  expect(tokens.length).toBeGreaterThanOrEqual(3);
  const at = (match: (event: RunEvent) => boolean) => watcher.timeline.findIndex((item) => "event" in item && match(item.event));
  const started = at((e) => e.type === "step.status" && e.stepId === "ask" && e.status === "running");
  const ended = at((e) => e.type === "step.status" && e.stepId === "ask" && e.status === "succeeded");
  const tokenPlaces = watcher.timeline.flatMap((item, i) => ("token" in item ? [i] : []));
  expect(started).toBeGreaterThanOrEqual(0);
  expect(Math.min(...tokenPlaces)).toBeGreaterThan(started);
  expect(Math.max(...tokenPlaces)).toBeLessThan(ended);

  // The late subscriber's snapshot and tokens, placed by offset, make the same text.
  let text = { text: "", from: 0 };
  for (const piece of [...streamed, ...late.tokens()]) text = mergeStreamedText(text, piece);
  expect(text).toEqual({ text: FULL, from: 0 });

  // Once the step ended only its last chunks stay (for readers that had not read them; its output has the text),
  // until a headless process sweeps them (the CLI process is gone).
  expect(await harness.db.streamChunk.count({ where: { runId } })).toBeLessThanOrEqual(3);
  watcher.socket.close();
  late.socket.close();
});
