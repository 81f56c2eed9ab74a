import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { actorById } from "@/lib/auth/access";
import type { Actor } from "@/lib/auth/roles";
import { addUser, claimOwner } from "@/lib/auth/users";
import { savePriceTable } from "@/lib/pricing";
import { startLlmGateway, type LlmGateway } from "@/e2e/fixtures/llm-gateway";
import { openTestRunner, testDatabases } from "@/e2e/fixtures/databases";
import { dashboardData, parseRange } from "./dashboard";

const databases = await testDatabases();

const NOW = new Date("2026-06-10T12:30:00Z");
const at = (iso: string) => new Date(iso);

let gateway: LlmGateway;
beforeAll(async () => {
  gateway = await startLlmGateway();
  process.env.LLM_GATEWAY_URL = gateway.url;
  process.env.LLM_API_KEY = "test";
});
afterAll(() => gateway.close());

describe.each(databases)("dashboard aggregates on %s", (_name, makeDatabase, available) => {
  let harness: Awaited<ReturnType<typeof openTestRunner>>;
  let owner: Actor;
  let alice: Actor;
  let bob: Actor;
  let carol: Actor;
  let n = 0;

  /** A stored run (the rows a runner leaves), with its step records. */
  const seed = async (
    ownerId: string,
    workflowId: string,
    status: string,
    createdAt: string,
    durationMs: number | null,
    usage: { tokens?: number; costUsd?: number } = {},
    steps: Array<{ stepId: string; ms: number; tokens?: number; costUsd?: number }> = [],
  ) => {
    const id = `seed-${++n}`;
    const created = at(createdAt);
    await harness.db.run.create({
      data: {
        id,
        ownerId,
        workflowId,
        workflowName: workflowId,
        definition: "{}",
        status,
        createdAt: created,
        startedAt: created,
        finishedAt: durationMs === null ? null : new Date(created.getTime() + durationMs),
        totalTokens: usage.tokens ?? null,
        costUsd: usage.costUsd ?? null,
      },
    });
    for (const step of steps)
      await harness.db.stepRun.create({
        data: {
          runId: id,
          stepId: step.stepId,
          stepType: "llm",
          execution: 1,
          status: "succeeded",
          startedAt: created,
          finishedAt: new Date(created.getTime() + step.ms),
          promptTokens: step.tokens ?? null,
          completionTokens: step.tokens ? 0 : null,
          costUsd: step.costUsd ?? null,
        },
      });
    return id;
  };

  beforeAll(async () => {
    if (!available) return;
    harness = await openTestRunner(makeDatabase());
    const { db } = harness;
    owner = await claimOwner(db, { email: "owner@example.com", password: "owner-password-1" });
    const user = async (email: string, role: "editor" | "viewer") => actorById(db, (await addUser(db, owner, { email, password: "password-for-1", role })).id);
    alice = await user("alice@example.com", "editor");
    bob = await user("bob@example.com", "editor");
    carol = await user("carol@example.com", "viewer");
    await db.workflow.create({ data: { id: "alice-wf", ownerId: alice.id, name: "Alice's" } });
    await db.workflow.create({ data: { id: "bob-wf", ownerId: bob.id, name: "Bob's" } });
    await db.workflowShare.create({ data: { workflowId: "alice-wf", userId: carol.id, permission: "view" } });

    // Alice, 10:00–11:00: ten runs of 1 … 10 s, eight succeeded, two failed.
    for (let i = 1; i <= 10; i++)
      await seed(alice.id, "alice-wf", i <= 8 ? "succeeded" : "failed", `2026-06-10T10:${String(i * 5).padStart(2, "0")}:00Z`, i * 1000, { tokens: 100, costUsd: 0.01 }, [
        { stepId: "draft", ms: i * 100, tokens: 100, costUsd: 0.01 },
        { stepId: "polish", ms: 50 },
      ]);
    // One at 12:10 still running; one two days ago (in 7d, not in 24h).
    await seed(alice.id, "alice-wf", "running", "2026-06-10T12:10:00Z", null);
    await seed(alice.id, "alice-wf", "succeeded", "2026-06-08T09:00:00Z", 60_000, { tokens: 7, costUsd: 0.5 });
    // Bob's: never on Alice's or Carol's dashboard.
    await seed(bob.id, "bob-wf", "failed", "2026-06-10T11:20:00Z", 99_000, { tokens: 5000, costUsd: 9 }, [{ stepId: "bob-secret-step", ms: 99_000, tokens: 5000, costUsd: 9 }]);
  });
  afterAll(async () => {
    if (available) await harness.close();
  });

  it.skipIf(!available)("runs per hour, success rate, p50/p95, tokens and cost, aggregated in SQL", async () => {
    const data = await dashboardData(harness, alice, { range: "24h", now: NOW });
    expect(data.bucket).toBe("hour");
    expect(data.series).toHaveLength(24);
    expect(data.series[0]!.t).toBe("2026-06-09T13:00:00Z");
    expect(data.series.at(-1)!.t).toBe("2026-06-10T12:00:00Z");
    const ten = data.series.find((b) => b.t === "2026-06-10T10:00:00Z")!;
    expect(ten).toEqual({ t: "2026-06-10T10:00:00Z", runs: 10, succeeded: 8, failed: 2, tokens: 1000, costUsd: expect.closeTo(0.1, 9), p50Ms: 5000, p95Ms: 10000 });
    expect(data.series.find((b) => b.t === "2026-06-10T12:00:00Z")).toMatchObject({ runs: 1, succeeded: 0, failed: 0, p50Ms: null });
    expect(data.series.filter((b) => b.runs === 0)).toHaveLength(22);
    expect(data.summary).toEqual({ runs: 11, succeeded: 8, failed: 2, successRate: 0.8, p50Ms: 5000, p95Ms: 10000, tokens: 1000, costUsd: expect.closeTo(0.1, 9) });
    // Steps: slowest by average duration; the most expensive by cost.
    expect(data.slowestSteps.map((s) => [s.stepId, s.executions, s.avgMs, s.maxMs])).toEqual([
      ["draft", 10, 550, 1000],
      ["polish", 10, 50, 50],
    ]);
    expect(data.costliestSteps).toEqual([{ workflowId: "alice-wf", stepId: "draft", stepType: "llm", executions: 10, avgMs: 550, maxMs: 1000, tokens: 1000, costUsd: expect.closeTo(0.1, 9) }]);
  });

  it.skipIf(!available)("the range selects the runs and the bucket size", async () => {
    const week = await dashboardData(harness, alice, { range: "7d", now: NOW });
    expect(week.series).toHaveLength(168);
    expect(week.summary.runs).toBe(12);
    expect(week.series.find((b) => b.t === "2026-06-08T09:00:00Z")).toMatchObject({ runs: 1, succeeded: 1, p50Ms: 60_000 });
    const month = await dashboardData(harness, alice, { range: "30d", now: NOW });
    expect(month.bucket).toBe("day");
    expect(month.series.at(-1)).toMatchObject({ t: "2026-06-10T00:00:00Z", runs: 11, succeeded: 8, failed: 2 });
    expect(month.series.find((b) => b.t === "2026-06-08T00:00:00Z")).toMatchObject({ runs: 1, costUsd: 0.5, tokens: 7 });
    expect(month.summary.p95Ms).toBe(60_000);
    expect(parseRange("7d")).toBe("7d");
    expect(parseRange(undefined)).toBe("24h");
    expect(() => parseRange("1y")).toThrow(/range: one of 24h, 7d, 30d/);
    expect(() => parseRange("x".repeat(100_000))).toThrow(/range:/);
  });

  it.skipIf(!available)("scoped to what the user can see: own runs and shared workflows; admins see all; a hidden workflow is NOT_FOUND", async () => {
    const bobs = await dashboardData(harness, bob, { range: "24h", now: NOW });
    expect(bobs.summary).toMatchObject({ runs: 1, failed: 1, tokens: 5000 });
    expect(bobs.slowestSteps.map((s) => s.stepId)).toEqual(["bob-secret-step"]);
    const carols = await dashboardData(harness, carol, { range: "24h", now: NOW });
    expect(carols.summary.runs).toBe(11);
    expect(JSON.stringify(carols)).not.toContain("bob-");
    const owners = await dashboardData(harness, owner, { range: "24h", now: NOW });
    expect(owners.summary.runs).toBe(12);
    expect(owners.slowestSteps[0]!.stepId).toBe("bob-secret-step");

    const aliceWf = await dashboardData(harness, carol, { range: "24h", workflowId: "alice-wf", now: NOW });
    expect(aliceWf.summary.runs).toBe(11);
    expect(aliceWf.workflowId).toBe("alice-wf");
    await expect(dashboardData(harness, carol, { range: "24h", workflowId: "bob-wf", now: NOW })).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(dashboardData(harness, alice, { workflowId: "no-such-workflow" })).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it.skipIf(!available)("a real run shows up with its tokens, cost and steps", async () => {
    await savePriceTable(harness.db, { "dash-model": { inputPerMillion: 1000, outputPerMillion: 2000 } });
    await harness.db.workflow.create({ data: { id: "real-wf", ownerId: alice.id, name: "Real" } });
    const definition = {
      id: "real-wf",
      name: "Real",
      steps: [
        { id: "ask", type: "llm", config: { model: "dash-model", prompt: "Write about dashboards" } },
        { id: "wait", type: "code", config: { code: "const end = Date.now() + 30; while (Date.now() < end) {} return 1;" } },
      ],
      edges: [{ from: "ask", to: "wait" }],
    };
    const result = await harness.runner.runToCompletion({ definition, input: {}, ownerId: alice.id, source: "api" });
    expect(result.status).toBe("succeeded");
    const row = await harness.db.run.findUniqueOrThrow({ where: { id: result.runId } });
    const data = await dashboardData(harness, alice, { range: "24h", workflowId: "real-wf" });
    expect(data.summary).toMatchObject({ runs: 1, succeeded: 1, successRate: 1, tokens: row.totalTokens });
    expect(data.summary.costUsd).toBeCloseTo(row.costUsd!, 9);
    const duration = row.finishedAt!.getTime() - row.startedAt!.getTime();
    expect(Math.abs(data.summary.p50Ms! - duration)).toBeLessThanOrEqual(1);
    expect(data.series.reduce((sum, b) => sum + b.runs, 0)).toBe(1);
    expect(data.slowestSteps.map((s) => s.stepId).sort()).toEqual(["ask", "wait"]);
    expect(data.costliestSteps.map((s) => s.stepId)).toEqual(["ask"]);
  });
});
