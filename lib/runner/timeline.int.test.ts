import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { actorById } from "@/lib/auth/access";
import { addUser } from "@/lib/auth/users";
import { openTestRunner, sqliteTestDatabase } from "@/e2e/fixtures/databases";
import { startLlmGateway } from "@/e2e/fixtures/llm-gateway";
import { saveWorkflowVersion } from "@/lib/workflows/repository";
import type { RunEvent } from "./event-types";
import { applyTimelineEvents, emptyTimeline, type Timeline } from "./timeline";
import { loadRunTimeline } from "./timeline-query";

/** The run page's timeline from real runs (real runner, SQLite, the LLM test gateway). */
let harness: Awaited<ReturnType<typeof openTestRunner>>;
let gateway: Awaited<ReturnType<typeof startLlmGateway>>;
const published: RunEvent[] = [];

beforeAll(async () => {
  gateway = await startLlmGateway();
  process.env.LLM_GATEWAY_URL = gateway.url;
  process.env.LLM_API_KEY = "test";
  harness = await openTestRunner(sqliteTestDatabase(), { publisher: { publish: (e) => published.push(e), publishToken: () => {} } });
});
afterAll(async () => {
  await harness.close();
  await gateway.close();
});

const bar = (timeline: Timeline, key: string) => {
  const found = timeline.bars[key];
  if (!found) throw new Error(`no bar ${key} in ${Object.keys(timeline.bars).join(", ")}`);
  return found;
};

describe("run timeline", () => {
  it("draws parallel lanes overlapping, a retry as attempts with the pause between, map items under their map", async () => {
    const { runner, userId } = harness;
    const definition = {
      id: "trace",
      name: "Trace",
      steps: [
        { id: "start", type: "transform", config: { output: 1 } },
        { id: "left", type: "llm", config: { model: "slow-300", prompt: "left" } },
        { id: "right", type: "llm", config: { model: "flaky-1", prompt: `right ${Date.now()}` }, retry: { maxAttempts: 2, initialDelayMs: 120, jitter: false } },
        { id: "each", type: "map", config: { items: "{{ [1, 2, 3] }}", concurrency: 3, steps: [{ id: "double", type: "transform", config: { output: "{{ item * 2 }}" } }] } },
        { id: "join", type: "transform", config: { output: "{{ steps.left.text }}" } },
      ],
      edges: [
        { from: "start", to: "left" },
        { from: "start", to: "right" },
        { from: "start", to: "each" },
        { from: "left", to: "join" },
        { from: "right", to: "join" },
        { from: "each", to: "join" },
      ],
    };
    const result = await runner.runToCompletion({ definition, ownerId: userId, source: "api" });
    expect(result.status).toBe("succeeded");
    const timeline = await loadRunTimeline(harness.db, userId, result.runId);
    expect(timeline.truncated).toBe(false);
    expect(timeline.status).toBe("succeeded");
    expect(timeline.order).toEqual(expect.arrayContaining(["start#1", "left#1", "right#1", "each#1", "join#1"]));
    expect(timeline.order).toHaveLength(5);

    const left = bar(timeline, "left#1");
    const right = bar(timeline, "right#1");
    const join = bar(timeline, "join#1");
    // The lanes ran at the same time; the join after both.
    expect(left.start).toBeLessThan(right.end!);
    expect(right.start).toBeLessThan(left.end!);
    expect(join.start).toBeGreaterThanOrEqual(Math.max(left.end!, right.end!));
    expect(left.end! - left.start).toBeGreaterThanOrEqual(250);
    expect(left).toMatchObject({ status: "succeeded", stepType: "llm", attempts: 1, tokens: expect.any(Number) });

    // The retry: a failed attempt, the 120 ms pause, the attempt that succeeded.
    expect(right).toMatchObject({ status: "succeeded", attempts: 2 });
    expect(right.spans.map((s) => [s.kind, s.attempt, s.error?.code])).toEqual([
      ["attempt", 1, "LLM_REQUEST_FAILED"],
      ["backoff", 1, undefined],
      ["attempt", 2, undefined],
    ]);
    expect(right.spans[1].end! - right.spans[1].start).toBe(120);
    expect(right.spans[2].end).toBe(right.end);

    // Map items: bars of their own, under the map's bar, not top-level rows.
    expect(timeline.items["each#1"]).toEqual(expect.arrayContaining(["each[0].double#1", "each[1].double#1", "each[2].double#1"]));
    expect(bar(timeline, "each[2].double#1")).toMatchObject({ parentKey: "each#1", item: 2, status: "succeeded" });

    // Built incrementally from the live events it is the same (the run page applies them as they come).
    let live = emptyTimeline(result.runId);
    for (const event of published.filter((e) => e.runId === result.runId)) live = applyTimelineEvents(live, [event]);
    expect(live.order).toEqual(timeline.order);
    expect(live.items).toEqual(timeline.items);
    for (const key of Object.keys(timeline.bars)) expect(live.bars[key].spans).toEqual(timeline.bars[key].spans);
    // And events already included change nothing.
    expect(applyTimelineEvents(live, published.filter((e) => e.runId === result.runId))).toBe(live);
  });

  it("shades the wait for an approval and links a sub-workflow step to its run", async () => {
    const { runner, userId, db } = harness;
    await saveWorkflowVersion(db, userId, { id: "child-wf", name: "Child", steps: [{ id: "inner", type: "transform", config: { output: 2 } }] });
    const definition = {
      id: "waits",
      name: "Waits",
      steps: [
        { id: "review", type: "approval", config: { message: "Go?" } },
        { id: "call", type: "workflow", config: { workflowId: "child-wf" } },
      ],
    };
    const paused = await runner.runToCompletion({ definition, ownerId: userId, source: "api" });
    expect(paused.status).toBe("waiting");
    const waiting = await loadRunTimeline(db, userId, paused.runId);
    expect(bar(waiting, "review#1")).toMatchObject({ status: "waiting" });
    expect(bar(waiting, "review#1").end).toBeUndefined();
    expect(bar(waiting, "review#1").spans.at(-1)).toMatchObject({ kind: "waiting", waitKind: "approval" });
    expect(bar(waiting, "review#1").spans.at(-1)!.end).toBeUndefined();

    await new Promise((r) => setTimeout(r, 150));
    await runner.decideApproval(paused.runId, userId, { approved: true, decidedBy: "tester" });
    expect((await runner.waitForRun(paused.runId)).status).toBe("succeeded");
    const done = await loadRunTimeline(db, userId, paused.runId);
    const review = bar(done, "review#1");
    expect(review.spans.map((s) => s.kind)).toEqual(["attempt", "waiting", "attempt"]);
    expect(review.spans[1].end! - review.spans[1].start).toBeGreaterThanOrEqual(150);
    const call = bar(done, "call#1");
    expect(call.childRunId).toMatch(/^run_/);
    const child = await loadRunTimeline(db, userId, call.childRunId!);
    expect(child.order).toEqual(["inner#1"]);
  });

  it("is NOT_FOUND for a user who cannot see the run", async () => {
    const { runner, userId, db } = harness;
    const result = await runner.runToCompletion({ definition: { id: "mine", name: "Mine", steps: [{ id: "a", type: "transform", config: { output: 1 } }] }, ownerId: userId, source: "api" });
    const other = await addUser(db, await actorById(db, userId), { email: `other-${Date.now()}@example.com`, password: "correct horse battery staple", role: "editor" });
    await expect(loadRunTimeline(db, other.id, result.runId)).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(loadRunTimeline(db, userId, "run_missing")).rejects.toMatchObject({ code: "NOT_FOUND" });
  });
});
