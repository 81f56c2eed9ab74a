import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Db } from "@/lib/db";
import { savePriceTable } from "@/lib/pricing";
import { startLlmGateway } from "@/e2e/fixtures/llm-gateway";
import { openTestRunner, testDatabases } from "@/e2e/fixtures/databases";
import { listCheckpoints } from "./checkpoints";
import { getRunDetail, listRuns } from "./queries";
import type { Runner } from "./runner";

const databases = await testDatabases();

/** Two model calls in a row: a fork after the first makes only the second call again. */
const definition = {
  id: "fork-totals",
  name: "Fork totals",
  steps: [
    { id: "outline", type: "llm", config: { model: "test-model", prompt: "Outline a story about {{ input.topic }} in many words" } },
    { id: "write", type: "llm", config: { model: "test-model", prompt: "Write: {{ steps.outline.text }}" } },
  ],
};

describe.each(databases)("fork totals on %s", (_name, makeDatabase, available) => {
  let harness: Awaited<ReturnType<typeof openTestRunner>>;
  let db: Db;
  let userId: string;
  let runner: Runner;
  let gateway: Awaited<ReturnType<typeof startLlmGateway>>;

  beforeAll(async () => {
    if (!available) return;
    gateway = await startLlmGateway();
    process.env.LLM_GATEWAY_URL = gateway.url;
    process.env.LLM_API_KEY = "test";
    harness = await openTestRunner(makeDatabase());
    ({ db, userId, runner } = harness);
    await savePriceTable(db, { "test-model": { inputPerMillion: 1000, outputPerMillion: 2000 } });
  });

  afterAll(async () => {
    if (!available) return;
    await harness.close();
    await gateway.close();
  });

  const usageOf = async (runId: string, stepId: string) => {
    const row = await db.stepRun.findFirstOrThrow({ where: { runId, stepId } });
    return { tokens: row.promptTokens! + row.completionTokens!, costUsd: row.costUsd!, inheritedFromRunId: row.inheritedFromRunId };
  };

  it.skipIf(!available)("a fork counts only its own calls; the steps it inherited are marked with the run that made them", async () => {
    const parent = await runner.runToCompletion({ definition, input: { topic: "owls" }, ownerId: userId, source: "api" });
    expect(parent.status).toBe("succeeded");
    const parentRow = await db.run.findUniqueOrThrow({ where: { id: parent.runId } });
    const outline = await usageOf(parent.runId, "outline");
    const write = await usageOf(parent.runId, "write");
    expect(parentRow.totalTokens).toBe(outline.tokens + write.tokens);

    // Fork after "outline" with the draft edited: the fork calls the model for "write" only.
    const checkpoints = await listCheckpoints(harness, userId, parent.runId);
    const afterOutline = checkpoints.find((c) => c.changed.steps.includes("outline"))!;
    gateway.clearLog();
    const { runId: forkId } = await runner.forkRun(parent.runId, userId, { checkpointId: afterOutline.checkpointId, set: { "steps.outline.text": "a short one" } });
    expect(await runner.waitForRun(forkId)).toMatchObject({ status: "succeeded" });
    expect(gateway.requests).toHaveLength(1);

    const forkWrite = await usageOf(forkId, "write");
    expect(forkWrite.inheritedFromRunId).toBeNull();
    expect(await usageOf(forkId, "outline")).toEqual({ ...outline, inheritedFromRunId: parent.runId });
    const forkRow = await db.run.findUniqueOrThrow({ where: { id: forkId } });
    expect(forkRow.totalTokens).toBe(forkWrite.tokens);
    expect(forkRow.costUsd).toBeCloseTo(forkWrite.costUsd, 10);

    // The run page's data: the inherited step says where it came from; the list marks the fork.
    const detail = (await getRunDetail(db, userId, forkId))!;
    expect(detail.steps.map((s) => [s.stepId, s.inheritedFrom])).toEqual([
      ["outline", parent.runId],
      ["write", null],
    ]);
    const listed = (await listRuns(harness, userId, { workflowId: "fork-totals" })).runs;
    expect(listed.find((r) => r.runId === forkId)).toMatchObject({ forkOf: parent.runId, resumed: false });
    expect(listed.find((r) => r.runId === parent.runId)).toMatchObject({ forkOf: null, resumed: false });

    // A fork of the fork, after its "write": nothing is called again, nothing is counted, and the inherited
    // records name the run that made each call.
    const forkCheckpoints = await listCheckpoints(harness, userId, forkId);
    const afterWrite = forkCheckpoints.find((c) => c.changed.steps.includes("write"))!;
    const { runId: grandchildId } = await runner.forkRun(forkId, userId, { checkpointId: afterWrite.checkpointId, set: {} });
    expect(await runner.waitForRun(grandchildId)).toMatchObject({ status: "succeeded" });
    expect(gateway.requests).toHaveLength(1);
    const grandchild = (await getRunDetail(db, userId, grandchildId))!;
    expect(grandchild.steps.map((s) => [s.stepId, s.inheritedFrom])).toEqual([
      ["outline", parent.runId],
      ["write", forkId],
    ]);
    expect(grandchild).toMatchObject({ totalTokens: null, costUsd: null });
  });

  it.skipIf(!available)("a run resumed from a checkpoint is marked resumed in the list", async () => {
    const original = await runner.runToCompletion({ definition, input: { topic: "bees" }, ownerId: userId, source: "api" });
    const [, ...earlier] = await listCheckpoints(harness, userId, original.runId);
    const afterOutline = earlier.find((c) => c.changed.steps.includes("outline"))!;
    await runner.resumeFromCheckpoint(original.runId, userId, afterOutline.checkpointId);
    expect(await runner.waitForRun(original.runId)).toMatchObject({ status: "succeeded" });
    const listed = (await listRuns(harness, userId, { workflowId: "fork-totals" })).runs;
    expect(listed.find((r) => r.runId === original.runId)).toMatchObject({ resumed: true, forkOf: null });
  });
});
