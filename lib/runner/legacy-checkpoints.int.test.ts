import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestRunner, testDatabases } from "@/e2e/fixtures/databases";
import { SqlCheckpointSaver } from "@/lib/checkpoint/sql-saver";
import type { Db } from "@/lib/db";
import type { SqlConnection } from "@/lib/db/sql";
import { getCheckpointState, listCheckpoints } from "./checkpoints";
import type { Runner } from "./runner";

/**
 * Runs recorded before the graph got its constant shape (a LangGraph node `step.<id>` and a channel `out.<id>` per
 * step; e2e/fixtures/legacy-checkpoints.json was written by that code): their checkpoints stay readable, a waiting
 * run resumes with its decision, and time travel and forks start from their checkpoints.
 */
const fixture = JSON.parse(readFileSync(new URL("../../e2e/fixtures/legacy-checkpoints.json", import.meta.url), "utf8")) as Record<string, Array<Record<string, unknown>>>;
const DATES = new Set(["createdAt", "startedAt", "finishedAt", "leaseExpiresAt", "cancelRequestedAt"]);
const [approvalRun, lanesRun] = fixture.Run.map((run) => String(run.id));

async function loadFixture(sql: SqlConnection, ownerId: string) {
  for (const table of ["Run", "StepRun", "RunEvent", "Checkpoint", "CheckpointBlob", "CheckpointWrite"]) {
    for (const row of fixture[table]) {
      const entries = Object.entries(row)
        .filter(([column]) => !(table === "RunEvent" && column === "id"))
        .map(([column, value]): [string, unknown] => {
          if (value && typeof value === "object" && "base64" in value) return [column, Buffer.from(String(value.base64), "base64")];
          if (DATES.has(column) && typeof value === "string") return [column, new Date(value)];
          if (table === "Run" && column === "ownerId") return [column, ownerId];
          return [column, value];
        });
      await sql.batch([
        { sql: `INSERT INTO "${table}" (${entries.map(([c]) => `"${c}"`).join(", ")}) VALUES (${entries.map(() => "?").join(", ")})`, params: entries.map(([, v]) => v) },
      ]);
    }
  }
}

const databases = await testDatabases();

describe.each(databases)("checkpoints of the layout with a node per step, on %s", (_name, makeDatabase, available) => {
  let harness: Awaited<ReturnType<typeof openTestRunner>>;
  let db: Db;
  let sql: SqlConnection;
  let userId: string;
  let runner: Runner;

  beforeAll(async () => {
    if (!available) return;
    harness = await openTestRunner(makeDatabase(), { concurrency: 2 });
    ({ db, sql, userId, runner } = harness);
    await loadFixture(sql, userId);
  });

  afterAll(async () => {
    if (!available) return;
    await harness.close();
  });

  const deps = () => ({ db, checkpointer: new SqlCheckpointSaver(sql) });

  it.skipIf(!available)("lists their checkpoints and shows the state and next steps at each", async () => {
    const checkpoints = await listCheckpoints(deps(), userId, lanesRun);
    expect(checkpoints[0].changed.steps).toEqual(["join"]);
    const afterStart = checkpoints.find((c) => c.changed.steps.includes("start"))!;
    const start = await getCheckpointState(deps(), userId, lanesRun, afterStart.checkpointId);
    expect(start.values).toEqual({ input: { n: 2 }, vars: { label: "sum" }, steps: { start: 2 } });
    expect(start.next.sort()).toEqual(["double", "square"]);
    const afterLanes = checkpoints.find((c) => c.changed.steps.includes("double"))!;
    expect(afterLanes.changed.steps.sort()).toEqual(["double", "square"]);
    const lanes = await getCheckpointState(deps(), userId, lanesRun, afterLanes.checkpointId);
    expect(lanes).toMatchObject({ values: { steps: { start: 2, double: 4, square: 4 } }, next: ["join"], executions: { start: 1, double: 1, square: 1 } });
  });

  it.skipIf(!available)("resumes a run that waited for an approval with the decision", async () => {
    await runner.decideApproval(approvalRun, userId, { approved: true, decidedBy: "ada" });
    const done = await runner.waitForRun(approvalRun);
    expect(done).toMatchObject({ status: "succeeded", outputs: { draft: { text: "draft about owls" }, publish: "draft about owls approved by ada" } });
    expect(done.outputs.review).toMatchObject({ approved: true, decidedBy: "ada" });
    const steps = await db.stepRun.findMany({ where: { runId: approvalRun }, orderBy: { startedAt: "asc" } });
    expect(steps.map((s) => `${s.stepId}:${s.execution}:${s.status}`)).toEqual(["draft:1:succeeded", "review:1:succeeded", "publish:1:succeeded"]);
    // The legacy checkpoints stay in the history, below the ones written since.
    const checkpoints = await listCheckpoints(deps(), userId, approvalRun);
    expect(checkpoints[0].changed.steps).toEqual(["publish"]);
    expect(checkpoints.some((c) => c.changed.steps.includes("draft"))).toBe(true);
  });

  it.skipIf(!available)("forks from a legacy checkpoint with edits, and resumes a legacy run from one", async () => {
    const checkpoints = await listCheckpoints(deps(), userId, lanesRun);
    const afterStart = checkpoints.find((c) => c.changed.steps.includes("start"))!;
    const { runId: forkId } = await runner.forkRun(lanesRun, userId, { checkpointId: afterStart.checkpointId, set: { "steps.start": 5, "vars.label": "total" } });
    expect(await runner.waitForRun(forkId)).toMatchObject({ status: "succeeded", outputs: { start: 5, double: 10, square: 25, join: "total: 35" } });

    const afterLanes = checkpoints.find((c) => c.changed.steps.includes("double"))!;
    const joinBefore = await db.stepRun.findFirstOrThrow({ where: { runId: lanesRun, stepId: "join" } });
    await runner.resumeFromCheckpoint(lanesRun, userId, afterLanes.checkpointId);
    expect(await runner.waitForRun(lanesRun)).toMatchObject({ status: "succeeded", outputs: { start: 2, double: 4, square: 4, join: "sum: 8" } });
    const joinAfter = await db.stepRun.findFirstOrThrow({ where: { runId: lanesRun, stepId: "join" } });
    expect(joinAfter.startedAt.getTime()).toBeGreaterThan(joinBefore.startedAt.getTime());
    expect((await db.stepRun.findMany({ where: { runId: lanesRun } })).map((s) => s.stepId).sort()).toEqual(["double", "join", "square", "start"]);
  });
});
