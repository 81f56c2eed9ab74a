import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SqlCheckpointSaver } from "@/lib/checkpoint/sql-saver";
import type { Db } from "@/lib/db";
import type { SqlConnection } from "@/lib/db/sql";
import type { RunEvent, TokenEvent } from "@/lib/runner/event-types";
import type { WorkflowDefinition } from "@/lib/workflow/schema";
import { startLlmGateway } from "@/e2e/fixtures/llm-gateway";
import { openTestRunner, testDatabases } from "@/e2e/fixtures/databases";
import { InvalidRunError } from "@/lib/engine/errors";
import { Runner } from "./runner";
import { getRunDetail, listRuns } from "./queries";
import { getCheckpointState, listCheckpoints } from "./checkpoints";
import { saveWorkflowVersion } from "@/lib/workflows/repository";
import { validateWorkflow } from "@/lib/workflow/validate";
import { savePriceTable } from "@/lib/pricing";
import { fanOutBlocks, linearChain } from "@/e2e/fixtures/large-workflows";
import { MAX_STEPS } from "@/lib/workflow/schema";

const databases = await testDatabases();

describe.each(databases)("runner on %s", (_name, makeDatabase, available) => {
  let harness: Awaited<ReturnType<typeof openTestRunner>>;
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
    harness = await openTestRunner(makeDatabase(), { publisher: { publish: (e) => published.push(e), publishToken: (e) => tokens.push(e) } });
    ({ db, sql, userId, runner } = harness);
  });

  afterAll(async () => {
    if (!available) return;
    await harness.close();
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
    expect((await listRuns({ db, sql }, userId)).runs[0].runId).toBe(result.runId);
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

  // Issue 9: the loop guard counted every step execution, so a loop-free workflow failed at step 100.
  it.skipIf(!available)("runs a 1,000-step chain with the default limits", async () => {
    const result = await run(linearChain(1000), { n: 1 });
    expect(result.error).toBeUndefined();
    expect(result.status).toBe("succeeded");
    expect(result.outputs.s999).toBe(1000);
    expect(await db.stepRun.count({ where: { runId: result.runId, status: "succeeded" } })).toBe(1000);
  }, 300_000);

  it.skipIf(!available)("runs a workflow of 100 ten-lane fan-outs (1,101 steps) with the default limits", async () => {
    const definition = fanOutBlocks(100, 10);
    const result = await run(definition, { n: 1 });
    expect(result.error).toBeUndefined();
    expect(result.status).toBe("succeeded");
    expect(result.outputs.b99_join).toBe(101);
    // Every step ran exactly once: each join waited for all ten lanes of its block.
    const rows = await db.stepRun.findMany({ where: { runId: result.runId }, select: { stepId: true, status: true } });
    expect(rows).toHaveLength(definition.steps.length);
    expect(new Set(rows.map((r) => r.stepId)).size).toBe(definition.steps.length);
    expect(rows.every((r) => r.status === "succeeded")).toBe(true);
  }, 300_000);

  it.skipIf(!available)("refuses, before creating a run, a workflow with more steps than a definition may have", async () => {
    const before = await db.run.count();
    const err = await run(linearChain(MAX_STEPS + 1), { n: 1 }).catch((e) => e);
    expect(err).toBeInstanceOf(InvalidRunError);
    expect(err.issues).toEqual([expect.objectContaining({ code: "DEFINITION_TOO_LARGE", field: "steps" })]);
    expect(await db.run.count()).toBe(before);
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

  it.skipIf(!available)("pauses at an approval step and resumes with the decision, also in a new process", async () => {
    const definition = {
      id: "approve",
      name: "Approve",
      steps: [
        { id: "draft", type: "transform", config: { output: "release 1.2" } },
        {
          id: "review",
          type: "approval",
          config: { message: "Ship {{ steps.draft }}?", form: { type: "object", properties: { note: { type: "string" } }, required: ["note"] } },
        },
        { id: "ship", type: "transform", config: { output: "shipped with {{ steps.review.data.note }}" } },
      ],
    };
    const paused = await run(definition);
    expect(paused).toMatchObject({ status: "waiting", outputs: { draft: "release 1.2" } });
    const waiting = await db.stepRun.findFirstOrThrow({ where: { runId: paused.runId, stepId: "review" } });
    expect(waiting.status).toBe("waiting");
    expect(JSON.parse(waiting.output!)).toMatchObject({ kind: "approval", message: "Ship release 1.2?" });
    expect((await db.run.findUniqueOrThrow({ where: { id: paused.runId } })).finishedAt).toBeNull();

    // A decision that does not fill the form is refused and changes nothing.
    await expect(runner.decideApproval(paused.runId, userId, { approved: true, data: {}, decidedBy: "alice" })).rejects.toMatchObject({
      code: "INVALID_INPUT",
      message: expect.stringMatching(/data\.note: is required/),
    });

    // Another process (as after a restart) takes the decision and finishes the run.
    const restarted = new Runner({ db, sql, checkpointer: new SqlCheckpointSaver(sql), concurrency: 2 });
    await restarted.decideApproval(paused.runId, userId, { approved: true, data: { note: "care" }, decidedBy: "alice" });
    const done = await restarted.waitForRun(paused.runId);
    expect(done.status).toBe("succeeded");
    expect(done.outputs.ship).toBe("shipped with care");
    expect(done.outputs.review).toMatchObject({ approved: true, data: { note: "care" }, decidedBy: "alice", decidedAt: expect.any(String) });
    expect(await db.stepRun.count({ where: { runId: paused.runId, stepId: "draft" } })).toBe(1);
    expect(await db.auditLog.count({ where: { targetId: paused.runId, action: "run.approve" } })).toBe(1);
    await expect(restarted.decideApproval(paused.runId, userId, { approved: true, decidedBy: "bob" })).rejects.toMatchObject({ code: "CONFLICT" });

    const second = await run(definition);
    await runner.decideApproval(second.runId, userId, { approved: false, comment: "not today", decidedBy: "bob" });
    expect(await runner.waitForRun(second.runId)).toMatchObject({ status: "failed", error: { code: "REJECTED", stepId: "review", message: "rejected by bob: not today" } });

    // A waiting run can be cancelled; its pending approval ends with it and can no longer be decided.
    const third = await run(definition);
    expect(await runner.cancelRun(third.runId, userId)).toEqual({ runId: third.runId, status: "cancelled" });
    expect(await db.stepRun.findFirstOrThrow({ where: { runId: third.runId, stepId: "review" } })).toMatchObject({ status: "cancelled", error: expect.stringContaining("the run was cancelled while this step was waiting") });
    await expect(runner.decideApproval(third.runId, userId, { approved: true, data: { note: "x" }, decidedBy: "alice" })).rejects.toMatchObject({ code: "CONFLICT" });
  });

  it.skipIf(!available)("resumes a failed run from its failed step, keeping its id, after the config was fixed", async () => {
    gateway.clearLog();
    const broken = {
      id: `fixme-${Math.random().toString(36).slice(2)}`,
      name: "Fix me",
      steps: [
        { id: "research", type: "llm", config: { model: "test-model", prompt: "research {{ input.topic }}" } },
        { id: "write", type: "llm", config: { model: "fail-400", prompt: "write about {{ steps.research.text }}" } },
        { id: "done", type: "transform", config: { output: "{{ steps.write.text }}" } },
      ],
    };
    const { definition: v1 } = validateWorkflow(broken);
    const saved = await saveWorkflowVersion(db, userId, v1!);
    const failed = await runner.runToCompletion({ definition: v1, input: { topic: "owls" }, ownerId: userId, workflowVersion: saved.version });
    expect(failed).toMatchObject({ status: "failed", error: { stepId: "write" } });

    // Resuming with the version it ran fails the same way (the 400 is not the gateway's fault).
    await runner.resumeRun(failed.runId, userId);
    expect(await runner.waitForRun(failed.runId)).toMatchObject({ status: "failed", error: { stepId: "write" } });

    // The user fixes the step's model and saves; the run resumes on the latest version from the failed step.
    const fixed = structuredClone(v1!);
    (fixed.steps[1].config as { model: string }).model = "test-model";
    const v2 = await saveWorkflowVersion(db, userId, fixed);
    await runner.resumeRun(failed.runId, userId, { useLatestVersion: true });
    const done = await runner.waitForRun(failed.runId);
    expect(done).toMatchObject({ runId: failed.runId, status: "succeeded", outputs: { done: "Echo: write about Echo: research owls" } });
    expect(gateway.requests.filter((r) => r.model === "test-model" && String(r.messages.at(-1)?.content).startsWith("research"))).toHaveLength(1);
    const row = await db.run.findUniqueOrThrow({ where: { id: failed.runId } });
    expect(row.workflowVersion).toBe(v2.version);
    const steps = await db.stepRun.findMany({ where: { runId: failed.runId } });
    expect(steps.map((s) => `${s.stepId}:${s.status}`).sort()).toEqual(["done:succeeded", "research:succeeded", "write:succeeded"]);
    await expect(runner.resumeRun(failed.runId, userId)).rejects.toMatchObject({ code: "CONFLICT", message: expect.stringMatching(/already succeeded/) });
  });

  it.skipIf(!available)("lists checkpoints, resumes from one and forks from one with edited state", async () => {
    const definition = {
      id: "travel",
      name: "Travel",
      vars: { tone: "plain" },
      steps: [
        { id: "draft", type: "transform", config: { output: { text: "first draft" } } },
        { id: "polish", type: "transform", config: { output: "{{ steps.draft.text }} ({{ vars.tone }})" } },
        { id: "publish", type: "transform", config: { output: "published: {{ steps.polish }}" } },
      ],
    };
    const original = await run(definition);
    expect(original.outputs.publish).toBe("published: first draft (plain)");

    const checkpoints = await listCheckpoints({ db, checkpointer: new SqlCheckpointSaver(sql) }, userId, original.runId);
    expect(checkpoints.length).toBeGreaterThanOrEqual(4);
    expect(checkpoints[0].changed.steps).toEqual(["publish"]);
    expect(checkpoints.every((c) => c.current)).toBe(true);
    const afterDraft = checkpoints.find((c) => c.changed.steps.includes("draft"))!;
    const state = await getCheckpointState({ db, checkpointer: new SqlCheckpointSaver(sql) }, userId, original.runId, afterDraft.checkpointId);
    expect(state).toMatchObject({ values: { steps: { draft: { text: "first draft" } }, vars: { tone: "plain" } }, next: ["polish"] });
    expect(state.values.steps).not.toHaveProperty("polish");
    // Before any step ran, the scheduler is next: it starts the entry steps.
    const first = checkpoints.find((c) => c.step === 0)!;
    expect((await getCheckpointState({ db, checkpointer: new SqlCheckpointSaver(sql) }, userId, original.runId, first.checkpointId)).next).toEqual(["draft"]);

    // Fork with an edited step output and variable: a new run linked to its parent; the parent is unchanged.
    const { runId: forkId } = await runner.forkRun(original.runId, userId, {
      checkpointId: afterDraft.checkpointId,
      set: { "steps.draft.text": "second draft", "vars.tone": "warm" },
    });
    const fork = await runner.waitForRun(forkId);
    expect(fork).toMatchObject({ status: "succeeded", outputs: { draft: { text: "second draft" }, publish: "published: second draft (warm)" } });
    expect(await db.run.findUniqueOrThrow({ where: { id: forkId } })).toMatchObject({ parentRunId: original.runId, parentCheckpointId: afterDraft.checkpointId });
    const forkSteps = await db.stepRun.findMany({ where: { runId: forkId }, orderBy: { startedAt: "asc" } });
    expect(forkSteps.map((s) => [s.stepId, s.execution, JSON.parse(s.output!)])).toEqual([
      ["draft", 1, { text: "second draft" }],
      ["polish", 1, "second draft (warm)"],
      ["publish", 1, "published: second draft (warm)"],
    ]);
    expect(JSON.parse((await db.run.findUniqueOrThrow({ where: { id: original.runId } })).outputs!).publish).toBe("published: first draft (plain)");
    await expect(runner.forkRun(original.runId, userId, { checkpointId: afterDraft.checkpointId, set: { "steps.nope": 1 } })).rejects.toMatchObject({
      code: "INVALID_INPUT",
      message: expect.stringMatching(/unknown step "nope"/),
    });

    // Resume from here: the same run re-runs what followed the checkpoint; the old branch is kept but not current.
    const polishBefore = await db.stepRun.findFirstOrThrow({ where: { runId: original.runId, stepId: "polish" } });
    await runner.resumeFromCheckpoint(original.runId, userId, afterDraft.checkpointId);
    expect(await runner.waitForRun(original.runId)).toMatchObject({ runId: original.runId, status: "succeeded", outputs: { publish: "published: first draft (plain)" } });
    const polishAfter = await db.stepRun.findFirstOrThrow({ where: { runId: original.runId, stepId: "polish" } });
    expect(polishAfter.startedAt.getTime()).toBeGreaterThan(polishBefore.startedAt.getTime());
    const after = await listCheckpoints({ db, checkpointer: new SqlCheckpointSaver(sql) }, userId, original.runId);
    expect(after.filter((c) => !c.current).length).toBeGreaterThan(0);
    expect(after[0].current).toBe(true);
    const last = after[0];
    await expect(runner.resumeFromCheckpoint(original.runId, userId, last.checkpointId)).rejects.toMatchObject({ message: expect.stringMatching(/nothing follows/) });
  });

  it.skipIf(!available)("a fork's edited input is checked against the workflow's input schema like any run's", async () => {
    const definition = { id: "forked-input", name: "Forked input", input: { type: "object", properties: { n: { type: "number" } }, required: ["n"] }, steps: [{ id: "double", type: "transform", config: { output: "{{ input.n * 2 }}" } }] };
    const original = await run(definition, { n: 2 });
    const [latest] = await listCheckpoints({ db, checkpointer: new SqlCheckpointSaver(sql) }, userId, original.runId);
    const runsBefore = await db.run.count();
    await expect(runner.forkRun(original.runId, userId, { checkpointId: latest.checkpointId, set: { "input.n": "two" } })).rejects.toMatchObject({
      code: "INVALID_INPUT",
      message: expect.stringContaining("input.n: must be number"),
    });
    expect(await db.run.count()).toBe(runsBefore);
  });

  it.skipIf(!available)("runs code and http steps: sandboxed code with its log, HTTP through the allow-list", async () => {
    process.env.ORCHESTRATOR_HTTP_ALLOW = "127.0.0.1";
    try {
      const definition = {
        id: "tools",
        name: "Tools",
        steps: [
          { id: "pick", type: "code", config: { code: 'console.log("picking", input.n); return { n: input.n * 2 };' } },
          { id: "models", type: "http", config: { method: "GET", url: `${gateway.url}/models`, query: { limit: "{{ steps.pick.n }}" } } },
          { id: "count", type: "transform", config: { output: "{{ $count(steps.models.body.data) }}" } },
        ],
      };
      const result = await run(definition, { n: 21 });
      expect(result).toMatchObject({ status: "succeeded", outputs: { pick: { n: 42 }, models: { status: 200 } } });
      expect(result.outputs.count).toBeGreaterThan(0);
      const detail = await getRunDetail(db, userId, result.runId);
      expect(detail?.steps.find((s) => s.stepId === "pick")?.logs).toEqual([{ level: "log", text: "picking 21" }]);
    } finally {
      delete process.env.ORCHESTRATOR_HTTP_ALLOW;
    }
    const blocked = await run({ id: "ssrf", name: "SSRF", steps: [{ id: "meta", type: "http", config: { url: `${gateway.url}/models` } }] });
    expect(blocked).toMatchObject({ status: "failed", error: { code: "HTTP_BLOCKED", stepId: "meta" } });
  });

  it.skipIf(!available)("waits at a wait_webhook step until its callback URL is called; the body becomes the output", async () => {
    const definition = {
      id: "callback",
      name: "Callback",
      steps: [
        { id: "order", type: "transform", config: { output: { id: 7 } } },
        { id: "paid", type: "wait_webhook", config: { message: "waiting for the payment provider" } },
        { id: "ship", type: "transform", config: { output: "ship order {{ steps.order.id }} paid by {{ steps.paid.payer }}" } },
      ],
    };
    const paused = await run(definition);
    expect(paused.status).toBe("waiting");
    const waiting = await db.stepRun.findFirstOrThrow({ where: { runId: paused.runId, stepId: "paid" } });
    const request = JSON.parse(waiting.output!);
    expect(request).toMatchObject({ kind: "callback", message: "waiting for the payment provider", path: expect.stringMatching(new RegExp(`^/api/callbacks/${paused.runId}/paid/1/[\\w-]{16}\\.[\\w-]{43}$`)) });
    const token = request.path.split("/").at(-1);

    await expect(runner.deliverCallback(paused.runId, "paid", 1, `${token}x`, {})).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(runner.deliverCallback(paused.runId, "order", 1, token, {})).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(runner.decideApproval(paused.runId, userId, { approved: true, decidedBy: "x" })).rejects.toMatchObject({ code: "CONFLICT", message: expect.stringMatching(/waits for a callback/) });
    const restarted = new Runner({ db, sql, checkpointer: new SqlCheckpointSaver(sql), concurrency: 2 });
    await restarted.deliverCallback(paused.runId, "paid", 1, token, { payer: "acme" });
    expect(await restarted.waitForRun(paused.runId)).toMatchObject({ status: "succeeded", outputs: { paid: { payer: "acme" }, ship: "ship order 7 paid by acme" } });
    await expect(runner.deliverCallback(paused.runId, "paid", 1, token, {})).rejects.toMatchObject({ code: "CONFLICT" });
  });

  it.skipIf(!available)("calls a saved workflow as a linked child run (latest or pinned version); its failure fails the step", async () => {
    const childId = `child-${Math.random().toString(36).slice(2)}`;
    const child = (greeting: string) =>
      validateWorkflow({
        id: childId,
        name: "Child",
        input: { type: "object", properties: { name: { type: "string" } }, required: ["name"] },
        steps: [{ id: "greet", type: "transform", config: { output: `${greeting} {{ input.name }}` } }],
      }).definition!;
    await saveWorkflowVersion(db, userId, child("hello"));
    await saveWorkflowVersion(db, userId, child("hi"));
    const parent = {
      id: "parent",
      name: "Parent",
      steps: [
        { id: "latest", type: "workflow", config: { workflowId: childId, input: { name: "{{ input.who }}" } } },
        { id: "pinned", type: "workflow", config: { workflowId: childId, version: 1, input: { name: "{{ steps.latest.outputs.greet }}" } } },
      ],
    };
    const result = await run(parent, { who: "ada" });
    expect(result).toMatchObject({ status: "succeeded", outputs: { latest: { status: "succeeded", outputs: { greet: "hi ada" } }, pinned: { outputs: { greet: "hello hi ada" } } } });
    const childRunId = (result.outputs.latest as { runId: string }).runId;
    expect(await db.run.findUniqueOrThrow({ where: { id: childRunId } })).toMatchObject({ parentRunId: result.runId, parentStepId: "latest", source: "workflow", workflowVersion: 2 });
    const detail = await getRunDetail(db, userId, result.runId);
    expect(detail?.subRuns.map((c) => c.stepId).sort()).toEqual(["latest", "pinned"]);
    expect((await getRunDetail(db, userId, childRunId))?.parent).toMatchObject({ runId: result.runId, stepId: "latest" });
    // Sub-runs are not taken over on their own; their parent resumes them.
    await expect(runner.resumeRun(childRunId, userId)).rejects.toMatchObject({ message: expect.stringMatching(/resume that run instead/) });

    const bad = await run({ ...parent, steps: [{ id: "call", type: "workflow", config: { workflowId: childId, input: { name: 5 } } }] });
    expect(bad).toMatchObject({ status: "failed", error: { code: "INVALID_INPUT", stepId: "call", message: expect.stringMatching(/input\.name/) } });
    const missing = await run({ ...parent, steps: [{ id: "call", type: "workflow", config: { workflowId: "nowhere" } }] });
    expect(missing).toMatchObject({ status: "failed", error: { code: "NOT_FOUND", stepId: "call" } });
    const selfId = `self-${Math.random().toString(36).slice(2)}`;
    await saveWorkflowVersion(db, userId, validateWorkflow({ id: selfId, name: "Self", steps: [{ id: "again", type: "workflow", config: { workflowId: selfId } }] }).definition!);
    const loop = await run({ id: selfId, name: "Self", steps: [{ id: "again", type: "workflow", config: { workflowId: selfId } }] });
    expect(loop).toMatchObject({ status: "failed", error: { code: "SUB_WORKFLOW_FAILED" } });
    expect(JSON.stringify(loop.error)).toMatch(/SUB_WORKFLOW_DEPTH|levels deep/);
  });

  it.skipIf(!available)("records tokens and cost of model calls on each step and the run, priced by the editable table", async () => {
    await savePriceTable(db, { "test-model": { inputPerMillion: 1000, outputPerMillion: 2000 } });
    const result = await run({
      id: "priced",
      name: "Priced",
      steps: [
        { id: "a", type: "llm", config: { model: "test-model", prompt: "one two three" } },
        { id: "b", type: "llm", config: { model: "unpriced-model", prompt: "four" } },
      ],
    });
    expect(result.status).toBe("succeeded");
    const a = await db.stepRun.findFirstOrThrow({ where: { runId: result.runId, stepId: "a" } });
    const usage = (result.outputs.a as { usage: { promptTokens: number; completionTokens: number } }).usage;
    expect(a).toMatchObject({ promptTokens: usage.promptTokens, completionTokens: usage.completionTokens });
    expect(a.costUsd).toBeCloseTo((usage.promptTokens * 1000 + usage.completionTokens * 2000) / 1e6, 10);
    const b = await db.stepRun.findFirstOrThrow({ where: { runId: result.runId, stepId: "b" } });
    expect(b.costUsd).toBeNull();
    expect(b.promptTokens).toBeGreaterThan(0);
    const row = await db.run.findUniqueOrThrow({ where: { id: result.runId } });
    expect(row.costUsd).toBeCloseTo(a.costUsd!, 10);
    expect(row.totalTokens).toBe(a.promptTokens! + a.completionTokens! + b.promptTokens! + b.completionTokens!);
    await expect(savePriceTable(db, { "x": { inputPerMillion: "cheap" } })).rejects.toMatchObject({ code: "INVALID_INPUT", message: expect.stringMatching(/x\.inputPerMillion/) });
  });

  it.skipIf(!available)("maps a chain of steps over items, at most `concurrency` at once, outputs in item order; a resume re-runs only failed items", async () => {
    gateway.clearLog();
    const definition = {
      id: "mapper",
      name: "Mapper",
      input: { type: "object", properties: { topics: { type: "array" } } },
      steps: [
        {
          id: "each",
          type: "map",
          config: {
            items: "{{ input.topics }}",
            concurrency: 2,
            steps: [
              { id: "ask", type: "llm", config: { model: "{{ item = 'bad' ? 'flaky-1' : 'slow-300' }}", prompt: "about {{ item }} #{{ index }}" } },
              { id: "shape", type: "transform", config: { output: { topic: "{{ item }}", text: "{{ steps.ask.text }}" } } },
            ],
          },
        },
        { id: "count", type: "transform", config: { output: "{{ $count(steps.each) }}" } },
      ],
    };
    const topics = ["a", "b", "c", "d", "e"];
    const started = Date.now();
    const result = await run(definition, { topics });
    const elapsed = Date.now() - started;
    expect(result.status).toBe("succeeded");
    expect(result.outputs.each).toEqual(topics.map((t, i) => ({ topic: t, text: `Echo: about ${t} #${i}` })));
    expect(result.outputs.count).toBe(5);
    // 5 items of ~300 ms, 2 at a time: 3 rounds, not 1 (unbounded) nor 5 (one by one).
    expect(elapsed).toBeGreaterThan(850);
    expect(elapsed).toBeLessThan(1500 + 600);
    const overlapping = gateway.requests.filter((r) => r.model === "slow-300").map((r) => [r.startedAt, r.finishedAt!]);
    const maxConcurrent = Math.max(...overlapping.map(([start]) => overlapping.filter(([s2, f2]) => s2 <= start && f2 > start).length));
    expect(maxConcurrent).toBe(2);
    const detail = await getRunDetail(db, userId, result.runId);
    expect(detail?.steps.filter((s) => s.stepId.startsWith("each[")).map((s) => s.stepId).sort()).toEqual(
      topics.flatMap((_, i) => [`each[${i}].ask`, `each[${i}].shape`]).sort(),
    );

    // One item fails (its gateway answers 503 once): the map fails naming it; resuming re-runs that item only.
    gateway.clearLog();
    const failing = await run(definition, { topics: ["a", "bad", "c"] });
    expect(failing).toMatchObject({ status: "failed", error: { stepId: "each", message: expect.stringMatching(/item 1 of map "each", step "ask": the LLM gateway/) } });
    const before = gateway.requests.length;
    await runner.resumeRun(failing.runId, userId);
    const resumed = await runner.waitForRun(failing.runId);
    expect(resumed).toMatchObject({ status: "succeeded", outputs: { count: 3 } });
    expect((resumed.outputs.each as Array<{ text: string }>)[1].text).toBe("Echo: about bad #1");
    expect(gateway.requests.slice(before).map((r) => r.messages.at(-1)?.content)).toEqual(["about bad #1"]);
  });

  it.skipIf(!available)("a sub-workflow that waits for an approval makes its parent wait; deciding the child resumes both", async () => {
    const childId = `gate-${Math.random().toString(36).slice(2)}`;
    await saveWorkflowVersion(
      db,
      userId,
      validateWorkflow({
        id: childId,
        name: "Gate",
        steps: [
          { id: "ok", type: "approval", config: { message: "Go on?" } },
          { id: "result", type: "transform", config: { output: "approved by {{ steps.ok.decidedBy }}" } },
        ],
      }).definition!,
    );
    const parent = await run({ id: "gated-parent", name: "Gated parent", steps: [{ id: "call", type: "workflow", config: { workflowId: childId } }, { id: "after", type: "transform", config: { output: "{{ steps.call.outputs.result }}!" } }] });
    expect(parent.status).toBe("waiting");
    const waiting = await db.stepRun.findFirstOrThrow({ where: { runId: parent.runId, stepId: "call" } });
    const { childRunId } = JSON.parse(waiting.output!);
    expect(await db.run.findUniqueOrThrow({ where: { id: childRunId } })).toMatchObject({ status: "waiting", parentRunId: parent.runId });
    await expect(runner.decideApproval(parent.runId, userId, { approved: true, decidedBy: "x" })).rejects.toMatchObject({ message: expect.stringMatching(/decide it there/) });

    await runner.decideApproval(childRunId, userId, { approved: true, decidedBy: "cleo" });
    expect(await runner.waitForRun(childRunId)).toMatchObject({ status: "succeeded" });
    await expect.poll(async () => (await db.run.findUniqueOrThrow({ where: { id: parent.runId } })).status, { timeout: 10_000 }).toBe("succeeded");
    const finished = await db.run.findUniqueOrThrow({ where: { id: parent.runId } });
    expect(JSON.parse(finished.outputs!)).toMatchObject({ after: "approved by cleo!", call: { runId: childRunId, status: "succeeded" } });
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

  it.skipIf(!available)("a process that lost its lease to another stops the run and writes nothing more; the new holder finishes it", async () => {
    const stalled = new Runner({ db, sql, checkpointer: new SqlCheckpointSaver(sql), concurrency: 1, leaseMs: 600 });
    gateway.clearLog();
    const { runId } = await stalled.startRun({
      definition: { id: "fenced", name: "Fenced", steps: [{ id: "ask", type: "llm", config: { model: "slow-3000", prompt: "fenced" } }] },
      ownerId: userId,
    });
    await expect.poll(() => gateway.requests.length, { timeout: 5000 }).toBe(1);
    // As if this process had stalled past its lease and another one had claimed the run meanwhile.
    await db.run.update({ where: { id: runId }, data: { leaseOwner: "proc_other", leaseExpiresAt: new Date(Date.now() + 60_000) } });
    const stopped = await stalled.waitForRun(runId);
    expect(stopped).toMatchObject({ status: "running", error: { code: "LEASE_LOST" } });
    await expect.poll(() => gateway.requests[0].aborted).toBe(true);
    expect(await db.run.findUniqueOrThrow({ where: { id: runId } })).toMatchObject({ status: "running", leaseOwner: "proc_other", finishedAt: null, error: null });

    // The other holder "dies" too; the next process takes the run over and finishes it.
    await db.run.update({ where: { id: runId }, data: { leaseExpiresAt: new Date(Date.now() - 1) } });
    await runner.resumeRun(runId, userId);
    expect(await runner.waitForRun(runId)).toMatchObject({ status: "succeeded", outputs: { ask: { text: "Echo: fenced" } } });
  });

  it.skipIf(!available)("a run whose process keeps dying is taken over 3 times, then fails CRASH_LOOP without executing; resume forces it", async () => {
    // Each Runner stands for a process. A process "dies" holding the run: another claims the lease (the fencing
    // stops the step in flight, and this process writes nothing more), and that claim then expires.
    const processOf = () => new Runner({ db, sql, checkpointer: new SqlCheckpointSaver(sql), concurrency: 1, leaseMs: 600 });
    const inFlight = (n: number) => expect.poll(() => gateway.requests.filter((r) => r.messages.at(-1)?.content === "crashy").length, { timeout: 5000 }).toBe(n);
    const dies = async (holder: Runner, runId: string) => {
      await db.run.update({ where: { id: runId }, data: { leaseOwner: "proc_gone", leaseExpiresAt: new Date(Date.now() + 60_000) } });
      expect(await holder.waitForRun(runId)).toMatchObject({ error: { code: "LEASE_LOST" } });
      // The aborted step recorded its cancellation; a killed process leaves the record `running` instead.
      await db.stepRun.updateMany({ where: { runId, stepId: "ask" }, data: { status: "running", error: null, finishedAt: null } });
      await db.run.update({ where: { id: runId }, data: { leaseExpiresAt: new Date(Date.now() - 1) } });
    };
    gateway.clearLog();
    const first = processOf();
    const { runId } = await first.startRun({
      definition: {
        id: "crashy",
        name: "Crashy",
        steps: [
          { id: "before", type: "transform", config: { output: "kept" } },
          { id: "ask", type: "llm", config: { model: "slow-3000", prompt: "crashy" } },
        ],
      },
      ownerId: userId,
    });
    await inFlight(1);
    await dies(first, runId);

    for (let takeover = 1; takeover <= 3; takeover++) {
      const next = processOf();
      await next.resumeRun(runId, userId);
      expect((await db.run.findUniqueOrThrow({ where: { id: runId } })).takeovers).toBe(takeover);
      await inFlight(takeover + 1);
      await dies(next, runId);
    }

    const fourth = processOf();
    await fourth.resumeRun(runId, userId);
    const ended = await fourth.waitForRun(runId);
    expect(ended).toMatchObject({ status: "failed", error: { code: "CRASH_LOOP" }, outputs: { before: "kept" } });
    expect(ended.error?.message).toContain("stopped 4 times");
    expect(ended.error?.message).toContain('step "ask"');
    expect(ended.error?.message).toContain(`orchestrator resume ${runId}`);
    await new Promise((r) => setTimeout(r, 300));
    expect(gateway.requests.filter((r) => r.messages.at(-1)?.content === "crashy")).toHaveLength(4); // not executed again
    const row = await db.run.findUniqueOrThrow({ where: { id: runId } });
    expect(row).toMatchObject({ status: "failed", takeovers: 4, leaseOwner: null });
    expect(JSON.parse(row.error!)).toEqual(ended.error);
    const steps = await db.stepRun.findMany({ where: { runId }, orderBy: { startedAt: "asc" } });
    expect(steps.map((s) => [s.stepId, s.status, s.error && JSON.parse(s.error).code])).toEqual([["before", "succeeded", null], ["ask", "failed", "CRASH_LOOP"]]);
    const events = await sql.query<{ payload: string }>(`SELECT "payload" FROM "RunEvent" WHERE "runId" = ? ORDER BY "seq"`, [runId]);
    expect(JSON.parse(events.at(-1)!.payload)).toMatchObject({ type: "run.status", status: "failed", error: { code: "CRASH_LOOP" } });

    // Forced by hand: the count starts again and the step in flight at the last crash runs.
    await runner.resumeRun(runId, userId);
    expect(await runner.waitForRun(runId)).toMatchObject({ status: "succeeded", outputs: { before: "kept", ask: { text: "Echo: crashy" } } });
    expect(await db.run.findUniqueOrThrow({ where: { id: runId } })).toMatchObject({ status: "succeeded", takeovers: 0, error: null });
    expect((await db.stepRun.findMany({ where: { runId }, orderBy: { startedAt: "asc" } })).map((s) => [s.stepId, s.execution, s.status])).toEqual([
      ["before", 1, "succeeded"],
      ["ask", 1, "succeeded"],
    ]);
  }, 30_000);

  it.skipIf(!available)("ORCHESTRATOR_MAX_TAKEOVERS sets the limit; 0 never resumes a run on its own", async () => {
    const def = { id: "limit0", name: "Limit 0", steps: [{ id: "a", type: "transform", config: { output: 1 } }] };
    const done = await run(def);
    expect(await db.run.findUniqueOrThrow({ where: { id: done.runId } })).toMatchObject({ status: "succeeded", takeovers: 0 });
    await db.run.update({ where: { id: done.runId }, data: { status: "running", finishedAt: null, leaseOwner: "proc_dead", leaseExpiresAt: new Date(Date.now() - 1) } });
    const saved = process.env.ORCHESTRATOR_MAX_TAKEOVERS;
    try {
      process.env.ORCHESTRATOR_MAX_TAKEOVERS = "0";
      const never = new Runner({ db, sql, checkpointer: new SqlCheckpointSaver(sql), concurrency: 1 });
      await never.resumeRun(done.runId, userId);
      expect(await never.waitForRun(done.runId)).toMatchObject({ status: "failed", error: { code: "CRASH_LOOP" }, outputs: { a: 1 } });
      process.env.ORCHESTRATOR_MAX_TAKEOVERS = "three";
      expect(() => new Runner({ db, sql, checkpointer: new SqlCheckpointSaver(sql), concurrency: 1 })).toThrow(/ORCHESTRATOR_MAX_TAKEOVERS must be a whole number/);
    } finally {
      if (saved === undefined) delete process.env.ORCHESTRATOR_MAX_TAKEOVERS;
      else process.env.ORCHESTRATOR_MAX_TAKEOVERS = saved;
    }
  });

  it.skipIf(!available)("a resumed run finishes the records of steps whose result reached the checkpoint but not their record", async () => {
    const def = { id: "settle", name: "Settle", steps: [{ id: "a", type: "transform", config: { output: { n: 1 } } }, { id: "b", type: "transform", config: { output: "{{ steps.a.n + 1 }}" } }] };
    const done = await run(def);
    expect(done.status).toBe("succeeded");
    // The crash window: the checkpoint holding a's and b's outputs was stored, their records were not finished,
    // and the process died holding the run.
    await db.stepRun.updateMany({ where: { runId: done.runId }, data: { status: "running", output: null, finishedAt: null } });
    await db.run.update({ where: { id: done.runId }, data: { status: "running", finishedAt: null, leaseOwner: "proc_dead", leaseExpiresAt: new Date(Date.now() - 1) } });
    await runner.resumeRun(done.runId, userId);
    expect(await runner.waitForRun(done.runId)).toMatchObject({ status: "succeeded", outputs: { a: { n: 1 }, b: 2 } });
    const rows = await db.stepRun.findMany({ where: { runId: done.runId }, orderBy: { stepId: "asc" } });
    expect(rows.map((r) => [r.stepId, r.execution, r.status, JSON.parse(r.output!)])).toEqual([["a", 1, "succeeded", { n: 1 }], ["b", 1, "succeeded", 2]]);
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
