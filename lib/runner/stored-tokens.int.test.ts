import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestRunner, testDatabases } from "@/e2e/fixtures/databases";
import { startLlmGateway } from "@/e2e/fixtures/llm-gateway";
import { openSql, type SqlConnection } from "@/lib/db/sql";
import { mergeStreamedText } from "./live-run";
import { CHUNKS_FROM_START, STORED_TOKENS, storedChunksAfter, type StoredTokenPolicy } from "./stored-tokens";

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
    for (let last = false; !last; ) {
      last = ended; // one more look once the run ended
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

  /** Runs `work` with the harness runner publishing like a headless process with this policy. */
  async function withPolicy<T>(policy: StoredTokenPolicy, work: () => Promise<T>): Promise<T> {
    const before = harness.runner.publisher;
    harness.runner.publisher = { publish() {}, publishToken() {}, storeTokens: policy };
    try {
      return await work();
    } finally {
      harness.runner.publisher = before;
    }
  }
  const startDrip = (model: string) =>
    harness.runner.startRun({
      definition: { id: model, name: "Drip", steps: [{ id: "ask", type: "llm", config: { model, prompt: WORDS } }] },
      ownerId: harness.userId,
      source: "cli",
    });
  const storedCount = (runId: string) => harness.db.streamChunk.count({ where: { runId } });

  it.skipIf(!available)("the default headless runner stores the streamed text in chunks, in order, after the events before them", async () => {
    expect(harness.runner.publisher.storeTokens).toEqual(STORED_TOKENS);
    await withPolicy({ ...STORED_TOKENS, lingerMs: 300 }, async () => {
      const { runId } = await startDrip("drip-25");
      const { rows } = await watchChunks(runId);
      // Throttled: several words per chunk, not a row per token.
      expect(rows.length).toBeGreaterThanOrEqual(2);
      expect(rows.length).toBeLessThan(FULL.split(" ").length / 2);
      let text = { text: "", from: 0 };
      for (const row of rows) {
        expect(row).toMatchObject({ stepId: "ask", execution: 1, position: text.text.length });
        text = mergeStreamedText(text, { text: row.text, offset: row.position });
      }
      // The last chunk, stored with the step's end, completes the text.
      expect(text.text).toBe(FULL);
      // Each chunk comes after the step's start in the event log and before its end.
      const events = await harness.db.runEvent.findMany({ where: { runId }, orderBy: { seq: "asc" } });
      const started = events.find((e) => e.type === "step.status" && JSON.parse(e.payload).status === "running")!.seq;
      const ended = events.find((e) => e.type === "step.status" && JSON.parse(e.payload).status === "succeeded")!.seq;
      for (const row of rows) expect(row.afterSeq >= started && row.afterSeq < ended).toBe(true);
      // The event log stays as it was: no token events in it.
      expect(events.map((e) => e.type).filter((t) => !["run.status", "step.status"].includes(t))).toEqual([]);
      // The ended step keeps its last chunks a while (readers complete their text), then none.
      expect(await storedCount(runId)).toBeLessThanOrEqual(3);
      await expect.poll(() => storedCount(runId), { timeout: 5000 }).toBe(0);
    });
  });

  it.skipIf(!available)("keeps at most the last part of a long generation per step, and the reader sees where it starts", async () => {
    const maxStepChars = 60;
    await withPolicy({ intervalMs: 40, maxStepChars, lingerMs: 60_000 }, async () => {
      const { runId } = await startDrip("drip-10");
      let lastRead: Awaited<ReturnType<typeof storedChunksAfter>>["chunks"] = [];
      const reading = (async () => {
        let ended = false;
        void harness.runner.waitForRun(runId).finally(() => (ended = true));
        while (!ended) {
          const { chunks, lastSeqs } = await storedChunksAfter(harness.sql, [[runId, CHUNKS_FROM_START]], 100);
          if (chunks.length) lastRead = chunks;
          expect(lastSeqs.get(runId)).toBeGreaterThanOrEqual(Math.max(...chunks.map((c) => c.afterSeq), 1));
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
      // Ended: only its last chunks stay (until the linger is over).
      expect(await storedCount(runId)).toBeLessThanOrEqual(3);
    });
  });

  it.skipIf(!available)("a headless process sweeps what runs that stopped a while ago left (a process that exited, or died)", async () => {
    // A run whose process died mid-step and which was ended since: its chunks stayed.
    const { runId: left } = await withPolicy({ ...STORED_TOKENS }, () => startDrip("drip-5"));
    await harness.runner.waitForRun(left);
    await harness.db.streamChunk.create({ data: { runId: left, afterSeq: 3, part: 0, stepId: "ask", execution: 1, position: 0, text: "left over" } });
    await harness.db.run.update({ where: { id: left }, data: { finishedAt: new Date(Date.now() - 120_000) } });
    // The next headless run to end sweeps it; a run that ended just now keeps its chunks (readers may need them).
    const { runId } = await withPolicy({ ...STORED_TOKENS }, async () => {
      const started = await startDrip("drip-5");
      await harness.runner.waitForRun(started.runId);
      return started;
    });
    expect(await storedCount(left)).toBe(0);
    expect(await storedCount(runId)).toBeGreaterThan(0);
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
