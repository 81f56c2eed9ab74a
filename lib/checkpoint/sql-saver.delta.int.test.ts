import { MemorySaver } from "@langchain/langgraph";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestSql } from "@/e2e/fixtures/databases";
import type { SqlConnection } from "@/lib/db/sql";
import type { RunnableConfig } from "@langchain/core/runnables";
import { compileWorkflow, OUTPUTS_CHANNEL } from "@/lib/engine/compile";
import type { WorkflowDefinition } from "@/lib/workflow/schema";
import { SqlCheckpointSaver } from "./sql-saver";

/**
 * Checkpoint rows are stored as deltas against their parent with occasional snapshots: every checkpoint of a
 * real run must read back exactly as LangGraph's in-memory saver keeps it, and the step outputs (a DeltaChannel,
 * stored as writes) must be rebuilt from the same history.
 */

/** Counters as versions (like the in-memory saver), so that both savers' checkpoints compare equal. */
class CountingVersions extends SqlCheckpointSaver {
  getNextVersion(current: number | undefined): number {
    return (current ?? 0) + 1;
  }
}
let close: () => Promise<void>;
let sql: SqlConnection;
beforeAll(async () => {
  ({ sql, close } = await openTestSql());
});
afterAll(() => close());

const loop: WorkflowDefinition = {
  id: "loop",
  name: "loop",
  vars: { n: 0 },
  limits: { maxStepExecutions: 400 },
  steps: [
    ...Array.from({ length: 40 }, (_, i) => ({ id: `s${i}`, type: "transform", config: { output: `{{ ${i} }}` } })),
    { id: "inc", type: "transform", config: { output: "{{ vars.n + 1 }}" }, assign: { n: "output" } },
    { id: "more", type: "condition", config: { expression: "vars.n < 30" } },
    { id: "fan1", type: "transform", config: { output: 1 } },
    { id: "fan2", type: "transform", config: { output: 2 } },
    { id: "end", type: "transform", config: { output: "{{ steps.fan1 + steps.fan2 + vars.n }}" } },
  ],
  edges: [
    ...Array.from({ length: 39 }, (_, i) => ({ from: `s${i}`, to: `s${i + 1}` })),
    { from: "s39", to: "inc" },
    { from: "inc", to: "more" },
    { from: "more", to: "inc", when: "true" as const },
    { from: "more", to: "fan1", when: "false" as const },
    { from: "more", to: "fan2", when: "false" as const },
    { from: "fan1", to: "end" },
    { from: "fan2", to: "end" },
  ],
};

async function history(saver: MemorySaver | SqlCheckpointSaver, thread: string) {
  const compiled = compileWorkflow(loop, { runId: thread, settings: {} }, saver);
  const config = { configurable: { thread_id: thread }, recursionLimit: 1000 };
  const final = await compiled.graph.invoke({ input: {}, vars: loop.vars }, config);
  const tuples = [];
  for await (const tuple of saver.list(config)) tuples.push(tuple);
  return { final, tuples };
}

describe("delta-encoded checkpoints", () => {
  it("read back identical to the in-memory saver for every checkpoint of a long run", async () => {
    // LangGraph stores a snapshot of a DeltaChannel at least every this many supersteps: small, so this run has some.
    process.env.LANGGRAPH_DELTA_MAX_SUPERSTEPS_SINCE_SNAPSHOT = "50";
    const saver = new CountingVersions(sql);
    const memory = new MemorySaver();
    const ours = await history(saver, "delta-thread");
    const reference = await history(memory, "memory-thread");
    delete process.env.LANGGRAPH_DELTA_MAX_SUPERSTEPS_SINCE_SNAPSHOT;
    expect(ours.final).toEqual(reference.final);
    expect(ours.tuples.length).toBe(reference.tuples.length);
    expect(ours.tuples.length).toBeGreaterThan(100);
    const shape = (t: (typeof ours.tuples)[number]) => ({
      channel_versions: t.checkpoint.channel_versions,
      versions_seen: t.checkpoint.versions_seen,
      // Channels never written (still at their default) and an empty Send topic are values in memory and no
      // blob here (as in the official Postgres saver); both restore the same state.
      channel_values: Object.fromEntries(
        Object.entries(t.checkpoint.channel_values).filter(
          ([k, v]) => k in t.checkpoint.channel_versions && !(k === "__pregel_tasks" && Array.isArray(v) && v.length === 0),
        ),
      ),
      writes: t.pendingWrites?.map(([, channel, value]) => [channel, value]),
      step: t.metadata?.step,
    });
    ours.tuples.forEach((tuple, i) => expect(shape(tuple)).toEqual(shape(reference.tuples[i])));

    // The step outputs' history at every checkpoint (the writes since the nearest snapshot, in order, and that
    // snapshot) is what the in-memory saver gives, read with four queries instead of a walk of getTuple calls.
    expect(ours.tuples.filter((t) => OUTPUTS_CHANNEL in t.checkpoint.channel_values).length).toBeGreaterThanOrEqual(2);
    let queries = 0;
    const counting: SqlConnection = Object.assign(Object.create(sql), {
      query: (...args: Parameters<SqlConnection["query"]>) => (queries++, sql.query(...args)),
      queryCommitted: (...args: Parameters<SqlConnection["queryCommitted"]>) => (queries++, sql.queryCommitted(...args)),
    });
    const counted = new CountingVersions(counting);
    const deltaHistory = async (s: MemorySaver | SqlCheckpointSaver, config: RunnableConfig) => {
      const { writes, seed } = (await s.getDeltaChannelHistory({ config, channels: [OUTPUTS_CHANNEL] }))[OUTPUTS_CHANNEL];
      return { writes: writes.map(([, channel, value]) => [channel, value]), seed };
    };
    for (const [i, tuple] of ours.tuples.entries()) {
      queries = 0;
      const got = await deltaHistory(counted, tuple.config);
      expect(got).toEqual(await deltaHistory(memory, reference.tuples[i].config));
      expect(queries).toBeLessThanOrEqual(4);
    }

    // getTuple of a checkpoint deep in a delta chain, from a fresh saver (no cache), rebuilds it the same way.
    const middle = ours.tuples[Math.floor(ours.tuples.length / 2)];
    const fresh = await new CountingVersions(sql).getTuple(middle.config);
    expect(fresh?.checkpoint).toEqual(middle.checkpoint);

    // The checkpoint browser's history rebuilds every checkpoint's versions from one read of the thread.
    queries = 0;
    const entries = await counted.history("delta-thread");
    expect(entries.map((e) => [e.checkpointId, e.channelVersions])).toEqual(ours.tuples.map((t) => [t.checkpoint.id, t.checkpoint.channel_versions]));
    expect(queries).toBe(1);

    // Deltas and snapshots both occur. (With a graph of constant size the bookkeeping is small, so a delta is not
    // much smaller than a snapshot and snapshots come every few checkpoints.)
    const rows = await sql.query<{ checkpoint: Uint8Array }>(`SELECT "checkpoint" FROM "Checkpoint" WHERE "threadId" = ?`, ["delta-thread"]);
    const kinds = rows.map((r) => ("delta" in JSON.parse(Buffer.from(r.checkpoint).toString("utf8")) ? "delta" : "snapshot"));
    expect(kinds.filter((k) => k === "snapshot").length).toBeGreaterThan(1);
    expect(kinds.filter((k) => k === "delta").length).toBeGreaterThan(kinds.length * 0.5);
  });
});
