import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SqlCheckpointSaver } from "@/lib/checkpoint/sql-saver";
import { createDb, ensureLocalUser, type Db } from "@/lib/db";
import { openSql, type SqlConnection } from "@/lib/db/sql";
import type { RunEvent, TokenEvent } from "@/lib/realtime/events";
import type { WorkflowDefinition } from "@/lib/workflow/schema";
import { startLlmGateway } from "@/e2e/fixtures/llm-gateway";
import { postgresAvailable, postgresTestDatabase, sqliteTestDatabase, type TestDatabase } from "@/e2e/fixtures/databases";
import { InvalidRunError } from "@/lib/engine/errors";
import { Runner } from "./runner";
import { getRunDetail, listRuns } from "./queries";

const hasPostgres = await postgresAvailable();
const databases: Array<[string, () => TestDatabase, boolean]> = [
  ["sqlite", sqliteTestDatabase, true],
  ["postgres", postgresTestDatabase, hasPostgres],
];

describe.each(databases)("runner on %s", (_name, makeDatabase, available) => {
  let database: TestDatabase;
  let db: Db;
  let sql: SqlConnection;
  let userId: string;
  let gateway: Awaited<ReturnType<typeof startLlmGateway>>;
  const published: RunEvent[] = [];
  const tokens: TokenEvent[] = [];
  let runner: Runner;

  beforeAll(async () => {
    if (!available) return;
    gateway = await startLlmGateway();
    process.env.LLM_GATEWAY_URL = gateway.url;
    process.env.LLM_API_KEY = "test";
    database = makeDatabase();
    db = await createDb(database.url);
    sql = openSql(database.url);
    userId = await ensureLocalUser(db);
    runner = new Runner({
      db,
      sql,
      checkpointer: new SqlCheckpointSaver(sql),
      concurrency: 4,
      publisher: { publish: (e) => published.push(e), publishToken: (e) => tokens.push(e) },
    });
  });

  afterAll(async () => {
    if (!available) return;
    await db.$disconnect();
    await sql.close();
    await database.drop();
    await gateway.close();
  });

  const run = (definition: unknown, input?: unknown) => runner.runToCompletion({ definition, input, ownerId: userId, source: "api" });

  it.skipIf(!available)("runs llm → transform, streams tokens, records steps, events and checkpoints", async () => {
    const def: WorkflowDefinition = {
      id: "greet",
      name: "Greet",
      input: { type: "object", properties: { topic: { type: "string" } }, required: ["topic"] },
      steps: [
        { id: "ask", type: "llm", config: { model: "test-model", prompt: "Tell me about {{ input.topic }}" } },
        { id: "shape", type: "transform", config: { output: { answer: "{{ steps.ask.text }}", tokens: "{{ steps.ask.usage.totalTokens }}" } } },
      ],
    };
    const result = await run(def, { topic: "cats" });
    expect(result.status).toBe("succeeded");
    expect(result.outputs.ask).toMatchObject({ text: "Echo: Tell me about cats", model: "test-model" });
    expect(result.outputs.shape).toEqual({ answer: "Echo: Tell me about cats", tokens: (result.outputs.ask as { usage: { totalTokens: number } }).usage.totalTokens });

    const detail = await getRunDetail(db, userId, result.runId);
    expect(detail?.status).toBe("succeeded");
    expect(detail?.steps.map((s) => [s.stepId, s.status])).toEqual([["ask", "succeeded"], ["shape", "succeeded"]]);
    expect(detail?.durationMs).toBeGreaterThanOrEqual(0);

    const events = await db.runEvent.findMany({ where: { runId: result.runId }, orderBy: { seq: "asc" } });
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect(events.map((e) => `${e.type}:${e.stepId ?? ""}:${JSON.parse(e.payload).status}`)).toEqual([
      "run.status::queued",
      "run.status::running",
      "step.status:ask:queued",
      "step.status:ask:running",
      "step.status:ask:succeeded",
      "step.status:shape:queued",
      "step.status:shape:running",
      "step.status:shape:succeeded",
      "run.status::succeeded",
    ]);
    expect(published.filter((e) => e.runId === result.runId).map((e) => e.seq)).toEqual(events.map((e) => e.seq));
    const streamed = tokens.filter((t) => t.runId === result.runId && t.stepId === "ask");
    expect(streamed.length).toBeGreaterThan(1);
    expect(streamed.map((t) => t.text).join("")).toBe("Echo: Tell me about cats");

    // Checkpointed per step, in the application database.
    const checkpoints = await db.checkpoint.count({ where: { threadId: result.runId } });
    expect(checkpoints).toBeGreaterThanOrEqual(3);
    expect((await listRuns(db, userId))[0].runId).toBe(result.runId);
  });

  it.skipIf(!available)("runs parallel lanes concurrently and joins them once", async () => {
    gateway.clearLog();
    const def: WorkflowDefinition = {
      id: "fan",
      name: "Fan out",
      steps: [
        { id: "start", type: "transform", config: { output: "go" } },
        ...[0, 1, 2, 3].map((i) => ({ id: `lane${i}`, type: "llm", config: { model: "slow-300", prompt: `lane ${i}` } })),
        { id: "join", type: "transform", config: { output: "{{ [steps.lane0.text, steps.lane1.text, steps.lane2.text, steps.lane3.text] }}" } },
      ],
      edges: [0, 1, 2, 3].flatMap((i) => [
        { from: "start", to: `lane${i}` },
        { from: `lane${i}`, to: "join" },
      ]),
    };
    const result = await run(def);
    expect(result.status).toBe("succeeded");
    expect(result.outputs.join).toEqual(["Echo: lane 0", "Echo: lane 1", "Echo: lane 2", "Echo: lane 3"]);
    // Concurrent: every lane's request reached the gateway before any of them finished.
    const requests = gateway.requests.filter((r) => r.model === "slow-300");
    expect(requests).toHaveLength(4);
    const lastStart = Math.max(...requests.map((r) => r.startedAt));
    const firstFinish = Math.min(...requests.map((r) => r.finishedAt ?? Infinity));
    expect(lastStart).toBeLessThan(firstFinish);
    const detail = await getRunDetail(db, userId, result.runId);
    expect(detail?.steps.filter((s) => s.stepId === "join")).toHaveLength(1);
  });

  it.skipIf(!available)("fails a run on a step error, keeping earlier outputs and naming the step", async () => {
    const result = await run({
      id: "broken",
      name: "Broken",
      steps: [
        { id: "first", type: "transform", config: { output: 42 } },
        { id: "ask", type: "llm", config: { model: "fail-500", prompt: "hi" } },
        { id: "never", type: "transform", config: { output: 1 } },
      ],
    });
    expect(result.status).toBe("failed");
    expect(result.error).toMatchObject({ code: "LLM_REQUEST_FAILED", stepId: "ask" });
    expect(result.error?.message).toMatch(/500/);
    expect(result.outputs).toEqual({ first: 42 });
    const detail = await getRunDetail(db, userId, result.runId);
    expect(detail?.steps.find((s) => s.stepId === "ask")).toMatchObject({ status: "failed", error: { code: "LLM_REQUEST_FAILED" } });
    expect(detail?.steps.some((s) => s.stepId === "never")).toBe(false);
  });

  it.skipIf(!available)("fails an endless loop with LOOP_LIMIT", async () => {
    const result = await run({
      id: "loop",
      name: "Loop",
      limits: { maxStepExecutions: 10 },
      vars: { n: 0 },
      steps: [
        { id: "inc", type: "transform", config: { output: "{{ vars.n + 1 }}" }, assign: { n: "output" } },
        { id: "again", type: "condition", config: { expression: "true" } },
      ],
      edges: [
        { from: "inc", to: "again" },
        { from: "again", to: "inc", when: "true" },
      ],
    });
    expect(result.status).toBe("failed");
    expect(result.error).toMatchObject({ code: "LOOP_LIMIT", stepId: "inc" });
    expect(result.outputs).toEqual({ inc: 5, again: { result: true } });
  });

  it.skipIf(!available)("rejects invalid definitions and input before creating a run", async () => {
    const before = await db.run.count();
    const bad = await run({ id: "x", name: "x", steps: [{ id: "a", type: "nope", config: {} }] }).catch((e) => e);
    expect(bad).toBeInstanceOf(InvalidRunError);
    expect(bad.code).toBe("INVALID_DEFINITION");
    expect(bad.issues[0]).toMatchObject({ code: "UNKNOWN_STEP_TYPE", stepId: "a", field: "type" });
    const badInput = await run(
      { id: "x", name: "x", input: { type: "object", properties: { n: { type: "number" } }, required: ["n"] }, steps: [{ id: "a", type: "transform", config: { output: 1 } }] },
      { n: "five" },
    ).catch((e) => e);
    expect(badInput.code).toBe("INVALID_INPUT");
    expect(badInput.message).toMatch(/input\.n: must be number/);
    expect(await db.run.count()).toBe(before);
  });

  it.skipIf(!available)("retries retryable failures per the step's policy and records every attempt", async () => {
    gateway.clearLog();
    const result = await run({
      id: "retry",
      name: "Retry",
      steps: [
        { id: "ask", type: "llm", config: { model: "flaky-2", prompt: `retry ${Date.now()}` }, retry: { maxAttempts: 3, initialDelayMs: 10, jitter: false } },
        { id: "hard", type: "llm", config: { model: "fail-400", prompt: "bad request" }, retry: { maxAttempts: 3, initialDelayMs: 10 }, onError: "continue" },
      ],
    });
    expect(result.status).toBe("succeeded");
    expect(gateway.requests.filter((r) => r.model === "flaky-2")).toHaveLength(3);
    expect(gateway.requests.filter((r) => r.model === "fail-400")).toHaveLength(1); // a 4xx is not retried
    const detail = await getRunDetail(db, userId, result.runId);
    const ask = detail!.steps.find((s) => s.stepId === "ask")!;
    expect(ask).toMatchObject({ status: "succeeded", attempts: 3 });
    expect(ask.attemptErrors.map((e) => [e.attempt, e.code])).toEqual([
      [1, "LLM_REQUEST_FAILED"],
      [2, "LLM_REQUEST_FAILED"],
    ]);
    const retries = await db.runEvent.count({ where: { runId: result.runId, type: "step.retry" } });
    expect(retries).toBe(2);
    // onError "continue": the failure is the step's output and the run goes on.
    expect(result.outputs.hard).toEqual({ error: { code: "LLM_REQUEST_FAILED", message: expect.stringMatching(/HTTP 400/) } });
  });

  it.skipIf(!available)("enforces a step's time limit per attempt and routes the failure along its error edge", async () => {
    gateway.clearLog();
    const result = await run({
      id: "timeout",
      name: "Timeout",
      steps: [
        { id: "slow", type: "llm", config: { model: "slow-3000", prompt: "slow" }, timeoutMs: 200, retry: { maxAttempts: 2, initialDelayMs: 10 }, onError: "route" },
        { id: "next", type: "transform", config: { output: "normal path" } },
        { id: "handle", type: "transform", config: { output: "handled {{ steps.slow.error.code }}" } },
      ],
      edges: [
        { from: "slow", to: "next" },
        { from: "slow", to: "handle", when: "error" },
      ],
    });
    expect(result.status).toBe("succeeded");
    expect(result.outputs).toEqual({ slow: { error: { code: "STEP_TIMEOUT", message: 'step "slow" did not finish within 200 ms' } }, handle: "handled STEP_TIMEOUT" });
    const slow = gateway.requests.filter((r) => r.model === "slow-3000");
    expect(slow).toHaveLength(2);
    await expect.poll(() => slow.every((r) => r.aborted)).toBe(true);
    const step = (await getRunDetail(db, userId, result.runId))!.steps.find((s) => s.stepId === "slow")!;
    expect(step).toMatchObject({ status: "failed", attempts: 2, error: { code: "STEP_TIMEOUT" } });
  });

  it.skipIf(!available)("cancels a running run promptly, aborting the in-flight LLM request", async () => {
    gateway.clearLog();
    const { runId } = await runner.startRun({
      definition: { id: "slow", name: "Slow", steps: [{ id: "ask", type: "llm", config: { model: "slow-5000", prompt: "take your time" } }] },
      ownerId: userId,
    });
    await expect.poll(() => gateway.requests.length, { timeout: 5000 }).toBe(1);
    expect(await runner.cancelRun(runId, userId)).toEqual({ runId, status: "running" });
    const result = await runner.waitForRun(runId);
    expect(result).toMatchObject({ status: "cancelled", error: { code: "CANCELLED" } });
    const run = await db.run.findUniqueOrThrow({ where: { id: runId } });
    expect(run.finishedAt!.getTime() - run.cancelRequestedAt!.getTime()).toBeLessThan(1000);
    await expect.poll(() => gateway.requests[0].aborted).toBe(true);
    expect(published.filter((e) => e.runId === runId).at(-1)).toMatchObject({ type: "run.status", status: "cancelled" });
  });

  it.skipIf(!available)("cancels a queued run before it starts, and leaves finished runs alone", async () => {
    const single = new Runner({ db, sql, checkpointer: new SqlCheckpointSaver(sql), concurrency: 1 });
    const slow = { id: "q", name: "Q", steps: [{ id: "ask", type: "llm", config: { model: "slow-300", prompt: "first" } }] };
    const first = await single.startRun({ definition: slow, ownerId: userId });
    const second = await single.startRun({ definition: slow, ownerId: userId });
    expect(await single.cancelRun(second.runId, userId)).toEqual({ runId: second.runId, status: "cancelled" });
    expect(await single.waitForRun(second.runId)).toMatchObject({ status: "cancelled" });
    expect(await db.stepRun.count({ where: { runId: second.runId } })).toBe(0);
    expect((await single.waitForRun(first.runId)).status).toBe("succeeded");
    expect(await single.cancelRun(first.runId, userId)).toEqual({ runId: first.runId, status: "succeeded" });
    await expect(single.cancelRun("run_nope", userId)).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it.skipIf(!available)("records a run that cannot start as failed with a clear error", async () => {
    const saved = process.env.LLM_GATEWAY_URL;
    delete process.env.LLM_GATEWAY_URL;
    await db.setting.createMany({
      data: [
        { key: "llm.gatewayUrl", value: gateway.url },
        { key: "llm.apiKey", value: "v1:not:a-real:secret", encrypted: true },
      ],
    });
    try {
      const result = await run({ id: "badkey", name: "Bad key", steps: [{ id: "ask", type: "llm", config: { model: "m", prompt: "hi" } }] });
      expect(result.status).toBe("failed");
      expect(result.error).toMatchObject({ code: "LLM_NOT_CONFIGURED" });
      expect(result.error?.message).toMatch(/cannot be decrypted/);
      expect((await getRunDetail(db, userId, result.runId))?.status).toBe("failed");
      // Followers see the end too.
      expect(published.filter((e) => e.runId === result.runId).at(-1)).toMatchObject({ type: "run.status", status: "failed" });
    } finally {
      await db.setting.deleteMany({ where: { key: { in: ["llm.gatewayUrl", "llm.apiKey"] } } });
      process.env.LLM_GATEWAY_URL = saved;
    }
  });

  it.skipIf(!available)("fails an llm step with a clear error when no gateway is configured", async () => {
    const saved = process.env.LLM_GATEWAY_URL;
    delete process.env.LLM_GATEWAY_URL;
    try {
      const result = await run({ id: "nogw", name: "No gateway", steps: [{ id: "ask", type: "llm", config: { model: "m", prompt: "hi" } }] });
      expect(result.status).toBe("failed");
      expect(result.error?.code).toBe("LLM_NOT_CONFIGURED");
      expect(result.error?.message).toMatch(/LLM_GATEWAY_URL/);
    } finally {
      process.env.LLM_GATEWAY_URL = saved;
    }
  });
});
