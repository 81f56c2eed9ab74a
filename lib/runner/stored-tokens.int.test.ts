import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestRunner, testDatabases } from "@/e2e/fixtures/databases";
import { startLlmGateway } from "@/e2e/fixtures/llm-gateway";
import { openSql, type SqlConnection } from "@/lib/db/sql";
import { mergeStreamedText } from "./live-run";
import { storedChunksAfter, CHUNKS_FROM_START } from "./stored-tokens";

/**
 * The streamed text of a process with no realtime server (the CLI) stored in throttled chunks: in order among the
 * run's events, bounded per step, gone when the step ends; and nothing stored by a process that publishes live.
 */
const databases = await testDatabases();
const WORDS = Array.from({ length: 40 }, (_, i) => `word${i + 1}`).join(" ");
const FULL = `Echo: ${WORDS}`;

let gateway: Awaited<ReturnType<typeof startLlmGateway>>;
beforeAll(async () => {
  gateway = await startLlmGateway();
  process.env.LLM_GATEWAY_URL = gateway.url;
  process.env.LLM_API_KEY = "test";
});
afterAll(() => gateway.close());

type Row = { afterSeq: number; part: number; stepId: string; execution: number; position: number; text: string };

describe.each(databases)("stored streamed text on %s", (_name, makeDatabase, available) => {
  const database = available ? makeDatabase() : undefined;
  let harness: Awaited<ReturnType<typeof openTestRunner>>;
  /** Another connection, as a realtime server in another process has: it sees what was committed. */
  let observer: SqlConnection;
  beforeAll(async () => {
    if (!database) return;
    harness = await openTestRunner(database, { concurrency: 2 });
    observer = openSql(database.url);
  });
  afterAll(async () => {
    if (!database) return;
    await observer.close();
    await harness.close();
  });

  /** Polls the stored chunks of a run until it ends: every distinct row seen, and the most stored at once. */
  async function watchChunks(runId: string) {
    const seen = new Map<string, Row>();
    let mostChars = 0;
    let ended = false;
    void harness.runner.waitForRun(runId).finally(() => (ended = true));
    while (!ended) {
      const rows = await observer.query<Row>(
        `SELECT "afterSeq", "part", "stepId", "execution", "position", "text" FROM "StreamChunk" WHERE "runId" = ? ORDER BY "afterSeq", "part"`,
        [runId],
      );
      for (const row of rows) seen.set(`${row.afterSeq}/${row.part}`, { ...row, afterSeq: Number(row.afterSeq), part: Number(row.part), position: Number(row.position) });
      mostChars = Math.max(mostChars, rows.reduce((n, r) => n + r.text.length, 0));
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return { rows: [...seen.values()].sort((a, b) => a.afterSeq - b.afterSeq || a.part - b.part), mostChars };
  }

  it.skipIf(!available)("a headless runner stores chunks in order, after the events before them, and removes them when the step ends", async () => {
    const { runId } = await harness.runner.startRun({
      definition: { id: "stored", name: "Stored", steps: [{ id: "ask", type: "llm", config: { model: "drip-25", prompt: WORDS } }] },
      ownerId: harness.userId,
      source: "cli",
    });
    const { rows } = await watchChunks(runId);
    // Throttled: several words per chunk, not a row per token.
    expect(rows.length).toBeGreaterThanOrEqual(2);
    expect(rows.length).toBeLessThan(FULL.split(" ").length / 2);
    let text = { text: "", from: 0 };
    for (const row of rows) {
      expect(row).toMatchObject({ stepId: "ask", execution: 1, position: text.text.length });
      text = mergeStreamedText(text, { text: row.text, offset: row.position });
    }
    expect(FULL.startsWith(text.text)).toBe(true);
    // Each chunk comes after the step's start in the event log and before its end.
    const events = await harness.db.runEvent.findMany({ where: { runId }, orderBy: { seq: "asc" } });
    const started = events.find((e) => e.type === "step.status" && JSON.parse(e.payload).status === "running")!.seq;
    const ended = events.find((e) => e.type === "step.status" && JSON.parse(e.payload).status === "succeeded")!.seq;
    for (const row of rows) expect(row.afterSeq >= started && row.afterSeq < ended).toBe(true);
    // The step's output holds the whole text: nothing stays stored, and the event log has no token events.
    expect(await harness.db.streamChunk.count({ where: { runId } })).toBe(0);
    expect(events.map((e) => e.type).filter((t) => !["run.status", "step.status"].includes(t))).toEqual([]);
    const run = await harness.db.run.findUniqueOrThrow({ where: { id: runId } });
    expect(JSON.parse(run.outputs!).ask.text).toBe(FULL);
  });

  it.skipIf(!available)("keeps at most the last part of a long generation per step, and the reader sees where it starts", async () => {
    const maxStepChars = 60;
    const runner = harness.runner;
    const before = runner.publisher;
    runner.publisher = { publish() {}, publishToken() {}, storeTokens: { intervalMs: 40, maxStepChars } };
    try {
      const { runId } = await runner.startRun({
        definition: { id: "long", name: "Long", steps: [{ id: "ask", type: "llm", config: { model: "drip-10", prompt: WORDS } }] },
        ownerId: harness.userId,
        source: "cli",
      });
      let lastRead: Awaited<ReturnType<typeof storedChunksAfter>> = [];
      const reading = (async () => {
        let ended = false;
        void runner.waitForRun(runId).finally(() => (ended = true));
        while (!ended) {
          const chunks = await storedChunksAfter(harness.db, [[runId, CHUNKS_FROM_START]], 100);
          if (chunks.length) lastRead = chunks;
          await new Promise((resolve) => setTimeout(resolve, 15));
        }
      })();
      const { mostChars, rows } = await watchChunks(runId);
      await reading;
      expect(rows.reduce((n, r) => n + r.text.length, 0)).toBeGreaterThan(FULL.length / 2); // it did stream into storage
      expect(mostChars).toBeLessThanOrEqual(maxStepChars * 1.5 + 20);
      // A late reader gets the tail, placed by its offset (the browser shows that the start is missing).
      expect(lastRead[0].token.offset).toBeGreaterThan(0);
      let text = { text: "", from: 0 };
      for (const chunk of lastRead) text = mergeStreamedText(text, chunk.token);
      expect(FULL.slice(text.from, text.from + text.text.length)).toBe(text.text);
      expect(await harness.db.streamChunk.count({ where: { runId } })).toBe(0);
    } finally {
      runner.publisher = before;
    }
  });

  it.skipIf(!available)("a runner that publishes live (the server) stores no chunk", async () => {
    const runner = harness.runner;
    const before = runner.publisher;
    const tokens: string[] = [];
    runner.publisher = { publish() {}, publishToken: (t) => void tokens.push(t.text) };
    try {
      const { runId } = await runner.startRun({
        definition: { id: "live", name: "Live", steps: [{ id: "ask", type: "llm", config: { model: "drip-25", prompt: WORDS } }] },
        ownerId: harness.userId,
      });
      const { rows } = await watchChunks(runId);
      expect(rows).toEqual([]);
      expect(tokens.join("")).toBe(FULL);
    } finally {
      runner.publisher = before;
    }
  });
});
