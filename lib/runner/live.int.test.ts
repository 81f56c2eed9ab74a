import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SqlCheckpointSaver } from "@/lib/checkpoint/sql-saver";
import { openTestRunner, testDatabases } from "@/e2e/fixtures/databases";
import { startLlmGateway } from "@/e2e/fixtures/llm-gateway";
import type { RunEvent } from "./event-types";
import { activeLiveRun, activeRunId, getRunDetail, storedLiveRun } from "./queries";
import { Runner } from "./runner";

/** The read side live views start from (a reload mid-run), and the `cancelled` step status the runner writes. */
const databases = await testDatabases();

describe.each(databases)("live state of runs on %s", (_name, makeDatabase, available) => {
  let harness: Awaited<ReturnType<typeof openTestRunner>>;
  let gateway: Awaited<ReturnType<typeof startLlmGateway>>;
  const published: RunEvent[] = [];

  beforeAll(async () => {
    if (!available) return;
    gateway = await startLlmGateway();
    process.env.LLM_GATEWAY_URL = gateway.url;
    process.env.LLM_API_KEY = "test";
    harness = await openTestRunner(makeDatabase(), { publisher: { publish: (e) => published.push(e), publishToken() {} } });
  });
  afterAll(async () => {
    if (!available) return;
    await harness.close();
    await gateway.close();
  });

  const maxSeq = async (runId: string) => (await harness.db.runEvent.aggregate({ where: { runId }, _max: { seq: true } }))._max.seq ?? 0;

  it.skipIf(!available)("a workflow's active run, whoever started it, is read back as live state with the last seq it includes", async () => {
    const { db, runner, userId } = harness;
    const definition = {
      id: `reattach-${Math.random().toString(36).slice(2)}`,
      name: "Reattach",
      steps: [
        { id: "first", type: "transform", config: { output: "done" } },
        { id: "ask", type: "llm", config: { model: "slow-1500", prompt: "take your time" } },
      ],
    };
    expect(await activeLiveRun(db, userId, definition.id)).toBeNull();
    const older = await runner.startRun({
      definition: { ...definition, steps: [{ id: "ask", type: "llm", config: { model: "slow-4000", prompt: "even slower" } }] },
      ownerId: userId,
      source: "cli",
    });
    const { runId } = await runner.startRun({ definition, ownerId: userId, source: "webhook" });
    await expect.poll(async () => (await db.stepRun.findFirst({ where: { runId, stepId: "ask" } }))?.status, { timeout: 5000 }).toBe("running");

    // The latest active run, not the older one still going.
    expect(await activeRunId(db, userId, definition.id)).toBe(runId);
    const live = await activeLiveRun(db, userId, definition.id);
    expect(live).toMatchObject({
      runId,
      status: "running",
      steps: { first: { status: "succeeded", execution: 1, output: "done", tokens: "" }, ask: { status: "running", execution: 1, tokens: "" } },
    });
    expect(live!.steps.ask.output).toBeUndefined();
    // The run row's lastSeq lags while it executes; the live state's is the last stored event's.
    expect(live!.lastSeq).toBe(await maxSeq(runId));
    expect((await db.run.findUniqueOrThrow({ where: { id: runId } })).lastSeq).toBeLessThan(live!.lastSeq);
    expect((await getRunDetail(db, userId, runId))!.lastSeq).toBe(live!.lastSeq);
    await db.user.upsert({ where: { id: "someone-else" }, create: { id: "someone-else", email: "someone@example.com", name: "Someone", role: "editor" }, update: {} });
    expect(await storedLiveRun(db, "someone-else", runId)).toBeNull();
    expect(await activeRunId(db, "someone-else", definition.id)).toBeNull();

    await runner.waitForRun(runId);
    expect(await activeRunId(db, userId, definition.id)).toBe(older.runId);
    await runner.waitForRun(older.runId);
    expect(await activeLiveRun(db, userId, definition.id)).toBeNull();
  });

  it.skipIf(!available)("a step a cancel stops ends `cancelled` (record, event, run detail), not failed", async () => {
    const { db, runner, userId } = harness;
    gateway.clearLog();
    const { runId } = await runner.startRun({
      definition: {
        id: "cancel-me",
        name: "Cancel me",
        steps: [
          { id: "before", type: "transform", config: { output: 1 } },
          { id: "ask", type: "llm", config: { model: "slow-5000", prompt: "never mind" } },
        ],
      },
      ownerId: userId,
    });
    await expect.poll(() => gateway.requests.length, { timeout: 5000 }).toBe(1);
    await runner.cancelRun(runId, userId);
    expect(await runner.waitForRun(runId)).toMatchObject({ status: "cancelled" });
    const record = await db.stepRun.findFirstOrThrow({ where: { runId, stepId: "ask" } });
    expect(record.status).toBe("cancelled");
    expect(JSON.parse(record.error!)).toEqual({ code: "CANCELLED", message: "the run was cancelled while this step was running", stepId: "ask" });
    expect(published.filter((e) => e.runId === runId && e.type === "step.status" && e.stepId === "ask").map((e) => (e as { status: string }).status)).toEqual([
      "queued",
      "running",
      "cancelled",
    ]);
    const detail = await getRunDetail(db, userId, runId);
    expect(detail!.steps.map((s) => [s.stepId, s.status])).toEqual([["before", "succeeded"], ["ask", "cancelled"]]);
    expect((await storedLiveRun(db, userId, runId))!.steps.ask).toMatchObject({ status: "cancelled", error: { code: "CANCELLED" } });
  });

  it.skipIf(!available)("cancelling a run whose process died ends the steps it left running `cancelled`", async () => {
    const { db, sql, runner, userId } = harness;
    const dead = new Runner({ db, sql, checkpointer: new SqlCheckpointSaver(sql), concurrency: 1, leaseMs: 600 });
    gateway.clearLog();
    const { runId } = await dead.startRun({
      definition: { id: "orphan", name: "Orphan", steps: [{ id: "ask", type: "llm", config: { model: "slow-3000", prompt: "orphaned" } }] },
      ownerId: userId,
    });
    await expect.poll(() => gateway.requests.length, { timeout: 5000 }).toBe(1);
    // The process "dies": it loses its lease and stops; a killed process leaves the record `running`.
    await db.run.update({ where: { id: runId }, data: { leaseOwner: "proc_gone", leaseExpiresAt: new Date(Date.now() + 60_000) } });
    expect(await dead.waitForRun(runId)).toMatchObject({ error: { code: "LEASE_LOST" } });
    await db.stepRun.updateMany({ where: { runId }, data: { status: "running", error: null, finishedAt: null } });
    await db.run.update({ where: { id: runId }, data: { leaseExpiresAt: new Date(Date.now() - 1) } });

    expect(await runner.cancelRun(runId, userId)).toEqual({ runId, status: "cancelled" });
    expect(await db.stepRun.findFirstOrThrow({ where: { runId, stepId: "ask" } })).toMatchObject({ status: "cancelled" });
    const events = published.filter((e) => e.runId === runId).slice(-2);
    expect(events).toMatchObject([
      { type: "step.status", stepId: "ask", status: "cancelled", error: { code: "CANCELLED" } },
      { type: "run.status", status: "cancelled" },
    ]);
  });
});
