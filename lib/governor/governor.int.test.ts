import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Db } from "@/lib/db";
import { openTestRunner, testDatabases } from "@/e2e/fixtures/databases";
import { startLlmGateway, type LlmGateway } from "@/e2e/fixtures/llm-gateway";
import type { RunEvent } from "@/lib/runner/event-types";
import type { Runner } from "@/lib/runner/runner";
import { savePriceTable } from "@/lib/pricing";
import { loadRunTimeline } from "@/lib/runner/timeline-query";
import { saveModelLimits } from "./settings";

/**
 * The governor with the real runner, the real database and the OpenAI-compatible test gateway (a loopback server
 * that can enforce its own rate limit). Each test uses model names of its own: the process's lines are shared.
 */
const databases = await testDatabases();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(databases)("model governor on %s", (dbName, makeDatabase, available) => {
  let harness: Awaited<ReturnType<typeof openTestRunner>>;
  let db: Db;
  let userId: string;
  let runner: Runner;
  let gateway: LlmGateway;
  const published: RunEvent[] = [];
  const tag = `${dbName}-${Math.random().toString(36).slice(2, 7)}`;

  beforeAll(async () => {
    if (!available) return;
    gateway = await startLlmGateway({ tokenDelayMs: 1 });
    process.env.LLM_GATEWAY_URL = gateway.url;
    process.env.LLM_API_KEY = "test";
    harness = await openTestRunner(makeDatabase(), { concurrency: 20, publisher: { publish: (e) => published.push(e), publishToken: () => {} } });
    ({ db, userId, runner } = harness);
    // The llm executor and its client load on the first call: warmed here, so the timing tests measure pacing.
    await runner.runToCompletion({ definition: { id: "warm", name: "warm", steps: [{ id: "ask", type: "llm", config: { model: "test-model", prompt: "warm" } }] }, ownerId: userId, source: "api" });
  });
  afterAll(async () => {
    if (!available) return;
    await harness.close();
    await gateway.close();
  });
  beforeEach(() => {
    if (!available) return;
    gateway.clearLog();
    gateway.setRateLimit(undefined);
  });

  const llmRun = (model: string, prompt: string, extra: Record<string, unknown> = {}) => ({
    id: `gov-${model.replace(/[^\w-]/g, "-")}`,
    name: "governed",
    steps: [{ id: "ask", type: "llm", config: { model, prompt } }],
    ...extra,
  });
  const start = (definition: unknown) => runner.startRun({ definition, ownerId: userId, source: "api" });
  const eventsOf = (runId: string) => published.filter((e) => e.runId === runId);

  it.skipIf(!available)("a requests-per-minute limit spaces the calls of parallel runs, which show the wait", async () => {
    const model = `paced-${tag}`;
    await saveModelLimits(db, [{ kind: "model", match: model, rpm: 150 }]); // one call every 400 ms
    const runs = await Promise.all(Array.from({ length: 5 }, (_, i) => start(llmRun(model, `call ${i}`))));
    const results = await Promise.all(runs.map((r) => runner.waitForRun(r.runId)));
    expect(results.map((r) => r.status)).toEqual(Array(5).fill("succeeded"));
    const starts = gateway.requests.filter((r) => r.model === model).map((r) => r.startedAt).sort((a, b) => a - b);
    expect(starts).toHaveLength(5);
    // The governor admits them 400 ms apart; the gateway sees them with the client's own latency on top, which
    // varies by up to ~100 ms (the first call of a process sets up its client): never a burst, and over the
    // five calls four intervals.
    for (let i = 1; i < starts.length; i++) expect(starts[i] - starts[i - 1]).toBeGreaterThanOrEqual(250);
    expect(starts[4] - starts[0]).toBeGreaterThanOrEqual(1500);
    const throttles = runs.flatMap((r) => eventsOf(r.runId)).filter((e) => e.type === "step.throttle");
    const waiting = throttles.filter((e) => e.type === "step.throttle" && e.state === "waiting");
    expect(waiting.length).toBeGreaterThanOrEqual(3);
    expect(waiting[0]).toMatchObject({ stepId: "ask", limit: `model "${model}"`, reason: "requests" });
    // Every wait ends with a resume before the step's end.
    for (const run of runs) {
      const types = eventsOf(run.runId).map((e) => (e.type === "step.throttle" ? `throttle:${e.state}` : e.type === "step.status" ? `step:${e.status}` : e.type));
      const waitAt = types.indexOf("throttle:waiting");
      if (waitAt >= 0) expect(types.indexOf("throttle:resumed")).toBeGreaterThan(waitAt);
      expect(types.indexOf("step:succeeded")).toBeGreaterThan(types.lastIndexOf("throttle:resumed"));
    }
    // The run page's timeline, built from the stored events, draws the wait as its own segment.
    const waited = runs.find((r) => eventsOf(r.runId).some((e) => e.type === "step.throttle"))!;
    const timeline = await loadRunTimeline(db, userId, waited.runId);
    expect(timeline.bars["ask#1"].spans.map((s) => s.kind)).toEqual(["attempt", "throttled", "attempt"]);
    expect(timeline.bars["ask#1"].spans[1].waitKind).toBe(`model "${model}"`);
  });

  it.skipIf(!available)("a concurrency limit holds calls in flight at once to it", async () => {
    const model = `slow-300`; // the gateway takes 300 ms per reply
    await saveModelLimits(db, [{ kind: "gateway", match: `${gateway.url}/`, maxConcurrent: 2 }]);
    const runs = await Promise.all(Array.from({ length: 6 }, (_, i) => start(llmRun(model, `concurrent ${tag} ${i}`))));
    const results = await Promise.all(runs.map((r) => runner.waitForRun(r.runId)));
    expect(results.map((r) => r.status)).toEqual(Array(6).fill("succeeded"));
    const calls = gateway.requests.filter((r) => r.model === model);
    expect(calls).toHaveLength(6);
    // Calls in flight at the gateway at once: +1 at each start, -1 at each end (an end before a start at the same ms).
    const edges = calls.flatMap((c) => [[c.startedAt, 1], [c.finishedAt!, -1]]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    let inFlight = 0;
    let peak = 0;
    for (const [, change] of edges) peak = Math.max(peak, (inFlight += change));
    expect(peak).toBe(2);
    const waiting = runs.flatMap((r) => eventsOf(r.runId)).filter((e) => e.type === "step.throttle" && e.state === "waiting");
    expect(waiting.some((e) => e.type === "step.throttle" && e.reason === "concurrency" && e.limit === `gateway ${gateway.url}`)).toBe(true);
    await saveModelLimits(db, []);
  });

  it.skipIf(!available)("429s from the provider never reach a run: Retry-After pauses the model's line for every call", async () => {
    const model = `limited-${tag}`;
    await saveModelLimits(db, []);
    // The provider allows 2 calls per 3 s; nothing is configured here, so the governor learns of it from a 429.
    gateway.setRateLimit({ requestsPerMinute: 2, windowMs: 3000, models: [model] });
    const direct = () => fetch(`${gateway.url}/chat/completions`, { method: "POST", body: JSON.stringify({ model, messages: [{ role: "user", content: "x" }] }) });
    expect((await direct()).status).toBe(200);
    expect((await direct()).status).toBe(200);
    // The first run's call is refused (the window is full for ~3 s) and pauses the model's line…
    const first = await start(llmRun(model, "first"));
    for (let i = 0; i < 200 && !gateway.rejections.length; i++) await sleep(25);
    const rejectedAt = gateway.rejections[0].at;
    await sleep(200);
    // …so the runs started during the pause wait it out too, without calling.
    const others = await Promise.all(Array.from({ length: 4 }, (_, i) => start(llmRun(model, `during the pause ${i}`))));
    const runs = [first, ...others];
    const results = await Promise.all(runs.map((r) => runner.waitForRun(r.runId)));
    expect(results.map((r) => r.status)).toEqual(Array(5).fill("succeeded"));
    expect(gateway.rateLimited()).toBeGreaterThan(0);
    const arrivals = [...gateway.requests.filter((r) => r.model === model).map((r) => r.startedAt), ...gateway.rejections.map((r) => r.at)];
    // Retry-After said 3 s (what was left of the window, rounded up): nothing arrived before it was over.
    expect(arrivals.filter((at) => at > rejectedAt && at < rejectedAt + 2500)).toEqual([]);
    expect(gateway.requests.filter((r) => r.model === model)).toHaveLength(2 + 5);
    const events = runs.flatMap((r) => eventsOf(r.runId));
    expect(events.filter((e) => e.type === "step.throttle" && e.state === "waiting" && e.reason === "paused").length).toBeGreaterThanOrEqual(5);
    expect(events.some((e) => e.type === "step.status" && e.status === "failed")).toBe(false);
    expect(events.some((e) => e.type === "step.retry")).toBe(false);
  });

  it.skipIf(!available)("cancelling a run while it waits for the rate limit ends it at once, without a call", async () => {
    const model = `slow-lane-${tag}`;
    await saveModelLimits(db, [{ kind: "model", match: model, rpm: 1 }]);
    const first = await start(llmRun(model, "first"));
    expect((await runner.waitForRun(first.runId)).status).toBe("succeeded");
    const second = await start(llmRun(model, "second"));
    for (let i = 0; i < 100 && !eventsOf(second.runId).some((e) => e.type === "step.throttle"); i++) await sleep(50);
    expect(eventsOf(second.runId).find((e) => e.type === "step.throttle")).toMatchObject({ state: "waiting", reason: "requests" });
    const t0 = Date.now();
    await runner.cancelRun(second.runId, userId);
    expect((await runner.waitForRun(second.runId)).status).toBe("cancelled");
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(gateway.requests.filter((r) => r.model === model)).toHaveLength(1);
    await saveModelLimits(db, []);
  });

  it.skipIf(!available)("a call that could take the run over its budget fails its step with BUDGET_EXCEEDED, no call made", async () => {
    const model = `dear-${tag}`;
    await savePriceTable(db, { [model]: { inputPerMillion: 1_000_000, outputPerMillion: 1_000_000 } }); // $1 a token
    // Each call: worst case 1 prompt token ("hi") + 3 max tokens = $4; it really costs 1 + 2 ("Echo: hi") = $3.
    const ask = (id: string) => ({ id, type: "llm", config: { model, prompt: "hi", maxTokens: 3 } });
    const result = await runner.runToCompletion({
      definition: { id: `budget-run-${tag}`, name: "budget", steps: [ask("one"), ask("two")], budget: { perRunUsd: 6 } },
      ownerId: userId,
      source: "api",
    });
    expect(result.status).toBe("failed");
    expect(result.error).toMatchObject({ code: "BUDGET_EXCEEDED", stepId: "two" });
    expect(result.error?.message).toContain("the run's budget of $6.00 (budget.perRunUsd) would be exceeded: it spent $3.00 so far");
    expect(result.error?.message).toContain(`this call to "${model}" may cost up to $4.00`);
    expect(gateway.requests.filter((r) => r.model === model)).toHaveLength(1); // the second call was never made
    const run = await db.run.findUniqueOrThrow({ where: { id: result.runId } });
    expect(run.costUsd).toBeCloseTo(3);
  });

  it.skipIf(!available)("a workflow's monthly budget counts its runs this UTC month and stops the one that would exceed it", async () => {
    const model = `dear-month-${tag}`;
    await savePriceTable(db, { [model]: { inputPerMillion: 1_000_000, outputPerMillion: 1_000_000 } });
    const definition = { id: `budget-month-${tag}`, name: "monthly", steps: [{ id: "ask", type: "llm", config: { model, prompt: "hi", maxTokens: 3 } }], budget: { perMonthUsd: 10 } };
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push(await runner.runToCompletion({ definition, ownerId: userId, source: "api" }));
    // $3 each: 0+4, 3+4, 6+4 fit under $10; 9+4 does not.
    expect(statuses.map((r) => r.status)).toEqual(["succeeded", "succeeded", "succeeded", "failed"]);
    expect(statuses[3].error?.code).toBe("BUDGET_EXCEEDED");
    expect(statuses[3].error?.message).toContain("the workflow's monthly budget of $10.00 (budget.perMonthUsd, UTC calendar month) would be exceeded: its runs spent $9.00 this month");
    expect(gateway.requests.filter((r) => r.model === model)).toHaveLength(3);
  });
});
