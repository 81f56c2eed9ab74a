import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestRunner, sqliteTestDatabase } from "@/e2e/fixtures/databases";
import { SqlCheckpointSaver } from "@/lib/checkpoint/sql-saver";
import type { Db } from "@/lib/db";
import type { SqlConnection } from "@/lib/db/sql";
import { DeltaSnapshot } from "@langchain/langgraph-checkpoint";
import { OUTPUTS_CHANNEL } from "@/lib/engine/compile";
import { getCheckpointState } from "./checkpoints";
import { pruneByRetention, pruneCheckpoints, retentionSetting, saveRetentionDays } from "./retention";
import type { Runner } from "./runner";

let harness: Awaited<ReturnType<typeof openTestRunner>>;
let db: Db;
let sql: SqlConnection;
let saver: SqlCheckpointSaver;
let runner: Runner;
let userId: string;

beforeAll(async () => {
  harness = await openTestRunner(sqliteTestDatabase(), { concurrency: 2 });
  ({ db, sql, userId, runner, checkpointer: saver } = harness);
});
afterAll(() => harness.close());

const chain = {
  id: "chain",
  name: "Chain",
  vars: { total: 0 },
  steps: Array.from({ length: 12 }, (_, i) => ({
    id: `s${i}`,
    type: "transform",
    config: { output: `{{ vars.total + ${i} }}` },
    assign: { total: "output" },
  })),
};

describe("checkpoint retention", () => {
  it("keeps only the final checkpoint of runs finished before the cutoff, readable as before", async () => {
    const old = await runner.runToCompletion({ definition: chain, ownerId: userId });
    const recent = await runner.runToCompletion({ definition: chain, ownerId: userId });
    await db.run.update({ where: { id: old.runId }, data: { finishedAt: new Date(Date.now() - 10 * 86_400_000) } });
    const before = await saver.getTuple({ configurable: { thread_id: old.runId } });
    const stateBefore = await getCheckpointState({ db, checkpointer: saver }, userId, old.runId, before!.checkpoint.id);
    const recentCount = await db.checkpoint.count({ where: { threadId: recent.runId } });
    expect(await db.checkpoint.count({ where: { threadId: old.runId } })).toBeGreaterThan(10);

    expect(await pruneCheckpoints(db, new SqlCheckpointSaver(sql), 7)).toEqual({ runs: 1 });

    expect(await db.checkpoint.count({ where: { threadId: old.runId } })).toBe(1);
    const after = await new SqlCheckpointSaver(sql).getTuple({ configurable: { thread_id: old.runId } });
    // The same checkpoint and state; the step outputs, rebuilt from the writes that are gone, are kept as a snapshot.
    expect(after?.checkpoint.id).toBe(before?.checkpoint.id);
    const { [OUTPUTS_CHANNEL]: snapshot, ...values } = after!.checkpoint.channel_values;
    expect(values).toEqual(before?.checkpoint.channel_values);
    expect(snapshot).toBeInstanceOf(DeltaSnapshot);
    expect(after?.checkpoint.channel_versions).toEqual(before?.checkpoint.channel_versions);
    const stateAfter = await getCheckpointState({ db, checkpointer: new SqlCheckpointSaver(sql) }, userId, old.runId, before!.checkpoint.id);
    expect(stateAfter).toEqual(stateBefore);
    expect(stateAfter.values.steps.s11).toBe(66);
    expect(await db.checkpointBlob.count({ where: { threadId: old.runId } })).toBeLessThan(20);
    expect(await db.checkpoint.count({ where: { threadId: recent.runId } })).toBe(recentCount);
    expect(await pruneCheckpoints(db, saver, 7)).toEqual({ runs: 0 }); // nothing left to prune
  });

  it("prunes by the saved setting (the environment wins), map item threads included", async () => {
    const mapped = await runner.runToCompletion({
      definition: {
        id: "mapped",
        name: "Mapped",
        steps: [{ id: "each", type: "map", config: { items: "{{ [1, 2, 3] }}", steps: [{ id: "double", type: "transform", config: { output: "{{ item * 2 }}" } }] } }],
      },
      ownerId: userId,
    });
    expect(mapped.status).toBe("succeeded");
    await db.run.update({ where: { id: mapped.runId }, data: { finishedAt: new Date(Date.now() - 40 * 86_400_000) } });
    const mapThreads = { threadId: { startsWith: `${mapped.runId}:` } };
    expect(await db.checkpoint.count({ where: mapThreads })).toBeGreaterThan(1);

    expect(await pruneByRetention(db, saver)).toEqual({ runs: 0 }); // retention off: nothing happens
    await expect(saveRetentionDays(db, 0)).rejects.toMatchObject({ code: "INVALID_INPUT" });
    await saveRetentionDays(db, 60);
    expect(await retentionSetting(db)).toEqual({ days: 60, fromEnv: false });
    expect(await pruneByRetention(db, saver)).toEqual({ runs: 0, days: 60 });
    process.env.ORCHESTRATOR_CHECKPOINT_RETENTION_DAYS = "30";
    try {
      expect(await retentionSetting(db)).toEqual({ days: 30, fromEnv: true });
      expect(await pruneByRetention(db, saver)).toEqual({ runs: 1, days: 30 });
    } finally {
      delete process.env.ORCHESTRATOR_CHECKPOINT_RETENTION_DAYS;
    }
    expect(await db.checkpoint.count({ where: { threadId: mapped.runId } })).toBe(1);
    const threads = await db.checkpoint.groupBy({ by: ["threadId"], where: mapThreads, _count: { _all: true } });
    expect(threads.length).toBeGreaterThan(0);
    expect(threads.every((t) => t._count._all === 1)).toBe(true);
    await saveRetentionDays(db, null);
    expect(await retentionSetting(db)).toEqual({ days: undefined, fromEnv: false });
  });
});
