import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAuth } from "@/lib/auth/auth";
import { actorById } from "@/lib/auth/access";
import { CLIENT_IP_HEADER } from "@/lib/auth/auth";
import { addUser, claimOwner, createToken } from "@/lib/auth/users";
import { savePriceTable } from "@/lib/pricing";
import { startLlmGateway, type LlmGateway } from "@/e2e/fixtures/llm-gateway";
import { openTestRunner, testDatabases } from "@/e2e/fixtures/databases";
import { metricsExposition } from "./metrics";
import { requireMetricsAccess } from "./metrics-access";

// Read when the process's metrics are created (first use): 7 workflows with a label of their own (the suites above use 6).
process.env.ORCHESTRATOR_METRICS_MAX_WORKFLOWS = "7";

const databases = await testDatabases();

/** Samples of the exposition text: `name{labels}` → value. */
async function samples(): Promise<Map<string, number>> {
  const { text } = await metricsExposition();
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const at = line.lastIndexOf(" ");
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}
const delta = (before: Map<string, number>, after: Map<string, number>, key: string) => (after.get(key) ?? 0) - (before.get(key) ?? 0);

const llmWorkflow = (id: string) => ({
  id,
  name: "Metrics",
  steps: [
    { id: "ask", type: "llm", config: { model: "metrics-model", prompt: "Say something about {{ input.topic }}" } },
    { id: "shape", type: "transform", config: { output: "{{ steps.ask.text }}" } },
  ],
  edges: [{ from: "ask", to: "shape" }],
});

/** Fails after one retry: the gateway answers 503 every time. */
const failingWorkflow = (id: string) => ({
  id,
  name: "Metrics failing",
  steps: [{ id: "broken", type: "llm", config: { model: "fail-503", prompt: "hi" }, retry: { maxAttempts: 2, initialDelayMs: 1 } }],
});

let gateway: LlmGateway;
beforeAll(async () => {
  gateway = await startLlmGateway();
  process.env.LLM_GATEWAY_URL = gateway.url;
  process.env.LLM_API_KEY = "test";
});
afterAll(() => gateway.close());

describe.each(databases)("GET /metrics after real runs on %s", (name, makeDatabase, available) => {
  let harness: Awaited<ReturnType<typeof openTestRunner>>;

  beforeAll(async () => {
    if (!available) return;
    harness = await openTestRunner(makeDatabase());
    await savePriceTable(harness.db, { "metrics-model": { inputPerMillion: 1000, outputPerMillion: 2000 } });
  });
  afterAll(async () => {
    if (available) await harness.close();
  });

  it.skipIf(!available)("counts runs by workflow and status, step durations by kind, tokens and cost by model", async () => {
    const { runner, userId, db } = harness;
    const wf = `metrics-${name}`;
    const before = await samples();
    const ok = await Promise.all([1, 2, 3].map((i) => runner.runToCompletion({ definition: llmWorkflow(wf), input: { topic: `owls ${i}` }, ownerId: userId, source: "api" })));
    expect(ok.map((r) => r.status)).toEqual(["succeeded", "succeeded", "succeeded"]);
    const failed = await runner.runToCompletion({ definition: failingWorkflow(`${wf}-fail`), input: {}, ownerId: userId, source: "api" });
    expect(failed.status).toBe("failed");
    const after = await samples();

    expect(delta(before, after, `orchestrator_runs_started_total{workflow="${wf}"}`)).toBe(3);
    expect(delta(before, after, `orchestrator_runs_finished_total{workflow="${wf}",status="succeeded"}`)).toBe(3);
    expect(delta(before, after, `orchestrator_runs_finished_total{workflow="${wf}-fail",status="failed"}`)).toBe(1);
    expect(delta(before, after, `orchestrator_run_duration_seconds_count{workflow="${wf}",status="succeeded"}`)).toBe(3);
    // Histograms: one observation per step execution, in cumulative buckets.
    expect(delta(before, after, `orchestrator_step_duration_seconds_count{kind="llm",status="succeeded"}`)).toBe(3);
    expect(delta(before, after, `orchestrator_step_duration_seconds_count{kind="transform",status="succeeded"}`)).toBe(3);
    expect(delta(before, after, `orchestrator_step_duration_seconds_count{kind="llm",status="failed"}`)).toBe(1);
    expect(delta(before, after, `orchestrator_step_duration_seconds_bucket{le="+Inf",kind="llm",status="succeeded"}`)).toBe(3);
    expect(delta(before, after, `orchestrator_step_duration_seconds_sum{kind="llm",status="succeeded"}`)).toBeGreaterThan(0);
    expect(delta(before, after, `orchestrator_step_retries_total{kind="llm"}`)).toBe(1);

    // Tokens and cost: what the step records hold.
    const rows = await db.stepRun.findMany({ where: { runId: { in: ok.map((r) => r.runId) }, stepId: "ask" } });
    const input = rows.reduce((sum, r) => sum + r.promptTokens!, 0);
    const output = rows.reduce((sum, r) => sum + r.completionTokens!, 0);
    const cost = rows.reduce((sum, r) => sum + r.costUsd!, 0);
    expect(input).toBeGreaterThan(0);
    expect(delta(before, after, `orchestrator_llm_tokens_total{model="metrics-model",type="input"}`)).toBe(input);
    expect(delta(before, after, `orchestrator_llm_tokens_total{model="metrics-model",type="output"}`)).toBe(output);
    expect(delta(before, after, `orchestrator_llm_cost_usd_total{model="metrics-model"}`)).toBeCloseTo(cost, 9);
    expect(delta(before, after, `orchestrator_llm_calls_total{model="metrics-model"}`)).toBe(3);

    // Nothing executes or waits any more.
    expect(after.get("orchestrator_active_runs")).toBe(0);
    expect(after.get("orchestrator_queue_depth")).toBe(0);
  });

  it.skipIf(!available)("a run cancelled while it waits for an approval (no execution ends it) counts as cancelled", async () => {
    const { runner, userId } = harness;
    const wf = `metrics-wait-${name}`;
    const before = await samples();
    const waiting = await runner.runToCompletion({
      definition: { id: wf, name: "Waits", steps: [{ id: "ok", type: "approval", config: { message: "go?" } }] },
      input: {},
      ownerId: userId,
      source: "api",
    });
    expect(waiting.status).toBe("waiting");
    expect(await runner.cancelRun(waiting.runId, userId)).toEqual({ runId: waiting.runId, status: "cancelled" });
    const after = await samples();
    expect(delta(before, after, `orchestrator_runs_started_total{workflow="${wf}"}`)).toBe(1);
    expect(delta(before, after, `orchestrator_runs_finished_total{workflow="${wf}",status="cancelled"}`)).toBe(1);
    expect(after.get("orchestrator_active_runs")).toBe(0);
  });

  it.skipIf(!available)("every metric name is prefixed orchestrator_, default process metrics (event-loop lag) included", async () => {
    const { text, contentType } = await metricsExposition();
    expect(contentType).toMatch(/^text\/plain/);
    const names = [...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!);
    expect(names.length).toBeGreaterThan(20);
    for (const metric of names) expect(metric.startsWith("orchestrator_"), metric).toBe(true);
    expect(names).toEqual(expect.arrayContaining(["orchestrator_nodejs_eventloop_lag_seconds", "orchestrator_queue_depth", "orchestrator_active_runs"]));
  });
});

describe("label cardinality", () => {
  const [, makeDatabase] = databases[0]!;
  it("workflows past ORCHESTRATOR_METRICS_MAX_WORKFLOWS count under workflow=\"other\"", async () => {
    const harness = await openTestRunner(makeDatabase());
    try {
      const before = await samples();
      for (let i = 0; i < 6; i++)
        await harness.runner.runToCompletion({
          definition: { id: `cardinality-${i}`, name: "c", steps: [{ id: "t", type: "transform", config: { output: 1 } }] },
          input: {},
          ownerId: harness.userId,
          source: "api",
        });
      const after = await samples();
      const labelled = [...after.keys()].filter((k) => k.startsWith("orchestrator_runs_started_total{"));
      // At most 7 workflows of the whole process (earlier tests' included) have their own label.
      expect(labelled.filter((k) => !k.includes('workflow="other"')).length).toBeLessThanOrEqual(7);
      const own = [0, 1, 2, 3, 4, 5].filter((i) => after.has(`orchestrator_runs_started_total{workflow="cardinality-${i}"}`)).length;
      expect(delta(before, after, 'orchestrator_runs_started_total{workflow="other"}')).toBe(6 - own);
      expect(6 - own).toBeGreaterThan(0);
    } finally {
      await harness.close();
    }
  });
});

describe.each(databases)("who may read /metrics on %s", (_name, makeDatabase, available) => {
  it.skipIf(!available)("open to loopback until the owner is set up; then an admin's or the owner's token only", async () => {
    const harness = await openTestRunner(makeDatabase());
    try {
      const deps = { db: harness.db, auth: createAuth(harness.db) };
      const ask = (headers: Record<string, string>) =>
        requireMetricsAccess(deps, new Headers(headers)).then(
          () => "ok",
          (err: { code?: string }) => err.code,
        );
      expect(await ask({ [CLIENT_IP_HEADER]: "127.0.0.1" })).toBe("ok");
      expect(await ask({ [CLIENT_IP_HEADER]: "0:0:0:0::/64" })).toBe("ok");
      expect(await ask({ [CLIENT_IP_HEADER]: "192.168.1.20" })).toBe("UNAUTHORIZED");
      expect(await ask({})).toBe("UNAUTHORIZED");

      const owner = await claimOwner(harness.db, { email: "owner@example.com", password: "owner-password-1" });
      expect(await ask({ [CLIENT_IP_HEADER]: "127.0.0.1" })).toBe("UNAUTHORIZED");
      const ownerToken = (await createToken(harness.db, owner, owner.id, "prometheus")).token;
      const admin = await addUser(harness.db, owner, { email: "admin@example.com", password: "admin-password-1", role: "admin" });
      const editor = await addUser(harness.db, owner, { email: "editor@example.com", password: "editor-password-1", role: "editor" });
      const adminToken = (await createToken(harness.db, await actorById(harness.db, admin.id), admin.id, "p")).token;
      const editorToken = (await createToken(harness.db, await actorById(harness.db, editor.id), editor.id, "p")).token;
      expect(await ask({ authorization: `Bearer ${ownerToken}` })).toBe("ok");
      expect(await ask({ authorization: `Bearer ${adminToken}`, [CLIENT_IP_HEADER]: "203.0.113.9" })).toBe("ok");
      expect(await ask({ authorization: `Bearer ${editorToken}` })).toBe("FORBIDDEN");
      expect(await ask({ authorization: "Bearer orc_not-a-token", [CLIENT_IP_HEADER]: "127.0.0.1" })).toBe("UNAUTHORIZED");
      expect(await ask({ authorization: `Bearer ${"x".repeat(100_000)}` })).toBe("UNAUTHORIZED");
    } finally {
      await harness.close();
    }
  });
});
