import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sqliteTestDatabase, type TestDatabase } from "@/e2e/fixtures/databases";
import { SqlCheckpointSaver } from "@/lib/checkpoint/sql-saver";
import { createDb, ensureLocalUser, type Db } from "@/lib/db";
import { openSql, type SqlConnection } from "@/lib/db/sql";
import { pruneCheckpoints } from "./retention";
import { Runner } from "./runner";

let database: TestDatabase;
let db: Db;
let sql: SqlConnection;
let saver: SqlCheckpointSaver;
let runner: Runner;
let userId: string;

beforeAll(async () => {
  database = sqliteTestDatabase();
  db = await createDb(database.url);
  sql = openSql(database.url);
  saver = new SqlCheckpointSaver(sql);
  userId = await ensureLocalUser(db);
  runner = new Runner({ db, sql, checkpointer: saver, concurrency: 2 });
});
afterAll(async () => {
  await db.$disconnect();
  await sql.close();
  await database.drop();
});

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
    const recentCount = await db.checkpoint.count({ where: { threadId: recent.runId } });
    expect(await db.checkpoint.count({ where: { threadId: old.runId } })).toBeGreaterThan(10);

    expect(await pruneCheckpoints(db, new SqlCheckpointSaver(sql), 7)).toEqual({ runs: 1 });

    expect(await db.checkpoint.count({ where: { threadId: old.runId } })).toBe(1);
    const after = await new SqlCheckpointSaver(sql).getTuple({ configurable: { thread_id: old.runId } });
    expect(after?.checkpoint.channel_values).toEqual(before?.checkpoint.channel_values);
    expect(after?.checkpoint.channel_versions).toEqual(before?.checkpoint.channel_versions);
    expect((after?.checkpoint.channel_values["out.s11"] as { output: number }).output).toBe(66);
    expect(await db.checkpointBlob.count({ where: { threadId: old.runId } })).toBeLessThan(20);
    expect(await db.checkpoint.count({ where: { threadId: recent.runId } })).toBe(recentCount);
    expect(await pruneCheckpoints(db, saver, 7)).toEqual({ runs: 0 }); // nothing left to prune
  });
});
