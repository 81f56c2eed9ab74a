import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestRunner, testDatabases } from "@/e2e/fixtures/databases";
import { SqlCheckpointSaver } from "@/lib/checkpoint/sql-saver";
import type { Db } from "@/lib/db";
import { openSql, type SqlConnection } from "@/lib/db/sql";
import { recordsIn, type StepOutputRecord } from "@/lib/engine/compile";
import type { RunEvent } from "@/lib/runner/event-types";
import { saveHttpAllowList } from "@/lib/settings";
import { validateWorkflow } from "@/lib/workflow/validate";
import { saveWorkflowVersion } from "@/lib/workflows/repository";
import { inspectionGraph } from "./checkpoints";
import type { Runner } from "./runner";

/**
 * What the run path caches and batches must not change what a run does: durability per step, settings read
 * per run, one compiled graph shared by concurrent runs.
 */
const databases = await testDatabases();

describe.each(databases)("run path on %s", (_name, makeDatabase, available) => {
  let harness: Awaited<ReturnType<typeof openTestRunner>>;
  let db: Db;
  let sql: SqlConnection;
  /** A second connection, as another process would have: it sees only what was committed. */
  let observer: SqlConnection;
  let userId: string;
  let runner: Runner;
  const published: RunEvent[] = [];
  let server: Server;
  let base: string;
  /** What the loopback server saw of the calling run's stored state when the http step called it. */
  let seenAtCall: Record<string, unknown> | undefined;

  beforeAll(async () => {
    if (!available) return;
    const database = makeDatabase();
    harness = await openTestRunner(database, { publisher: { publish: (e) => published.push(e), publishToken() {} } });
    ({ db, sql, userId, runner } = harness);
    observer = openSql(database.url);
    const observerSaver = new SqlCheckpointSaver(observer);
    server = createServer(async (req, res) => {
      // Reads the latest committed checkpoint of the run that is calling, through the other connection.
      const workflowId = new URL(req.url!, "http://x").searchParams.get("workflow");
      const [run] = await observer.query<{ id: string; definition: string }>(`SELECT "id", "definition" FROM "Run" WHERE "workflowId" = ? AND "status" = 'running'`, [workflowId]);
      if (run) {
        const state = await inspectionGraph(run.definition, run.id, observerSaver).graph.getState({ configurable: { thread_id: run.id } });
        seenAtCall = state.values as Record<string, unknown>;
      }
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });

  afterAll(async () => {
    if (!available) return;
    await new Promise((resolve) => server.close(resolve));
    await observer.close();
    await harness.close();
  });

  const run = (definition: unknown, input?: unknown) => runner.runToCompletion({ definition, input, ownerId: userId, source: "api" });

  it.skipIf(!available)("a step starts only once the steps before it are stored (another connection sees their results)", async () => {
    process.env.ORCHESTRATOR_HTTP_ALLOW = "127.0.0.1";
    try {
      const chain = Array.from({ length: 10 }, (_, i) => ({ id: `s${i}`, type: "transform", config: { output: { n: i } } }));
      const result = await run({
        id: "durable-chain",
        name: "Durable chain",
        steps: [...chain, { id: "call", type: "http", config: { url: `${base}/check?workflow=durable-chain` } }],
      });
      expect(result.status).toBe("succeeded");
      const records = recordsIn(seenAtCall ?? {});
      for (let i = 0; i < 10; i++) expect(records.get(`s${i}`)).toMatchObject({ output: { n: i }, execution: 1 } satisfies StepOutputRecord);
    } finally {
      delete process.env.ORCHESTRATOR_HTTP_ALLOW;
    }
  });

  it.skipIf(!available)("the steps that succeeded in a superstep that failed are kept: a resume runs only the failed one", async () => {
    const version = (shout: string) => ({
      id: `lanes-${available}-${Math.random().toString(36).slice(2)}`,
      name: "Lanes",
      steps: [
        { id: "start", type: "transform", config: { output: "go" } },
        { id: "calm", type: "transform", config: { output: "calm" } },
        { id: "loud", type: "transform", config: { output: shout } },
      ],
      edges: [
        { from: "start", to: "calm" },
        { from: "start", to: "loud" },
      ],
    });
    const broken = version('{{ $assert(false, "boom") }}');
    const v1 = await saveWorkflowVersion(db, userId, validateWorkflow(broken).definition!);
    const failed = await runner.runToCompletion({ definition: broken, ownerId: userId, workflowVersion: v1.version, source: "api" });
    expect(failed).toMatchObject({ status: "failed", error: { stepId: "loud" } });
    await saveWorkflowVersion(db, userId, validateWorkflow({ ...version("LOUD"), id: broken.id }).definition!);
    await runner.resumeRun(failed.runId, userId, { useLatestVersion: true });
    expect(await runner.waitForRun(failed.runId)).toMatchObject({ status: "succeeded", outputs: { calm: "calm", loud: "LOUD" } });
    const calmRuns = published.filter((e) => e.runId === failed.runId && e.type === "step.status" && e.stepId === "calm" && e.status === "running");
    expect(calmRuns).toHaveLength(1);
  });

  it.skipIf(!available)("settings saved between two runs apply to the second", async () => {
    const definition = { id: "allow", name: "Allow", steps: [{ id: "call", type: "http", config: { url: `${base}/check` } }] };
    expect(await run(definition)).toMatchObject({ status: "failed", error: { code: "HTTP_BLOCKED" } });
    await saveHttpAllowList(db, ["127.0.0.1"]);
    try {
      expect(await run(definition)).toMatchObject({ status: "succeeded", outputs: { call: { status: 200 } } });
    } finally {
      await saveHttpAllowList(db, []);
    }
    expect(await run(definition)).toMatchObject({ status: "failed", error: { code: "HTTP_BLOCKED" } });
  });

  it.skipIf(!available)("concurrent runs of one definition share its compiled graph and keep their own data, records and events", async () => {
    const definition = {
      id: "shared",
      name: "Shared",
      steps: [
        { id: "double", type: "transform", config: { output: "{{ input.n * 2 }}" } },
        { id: "label", type: "transform", config: { output: "n={{ input.n }} doubled={{ steps.double }}" } },
      ],
    };
    const results = await Promise.all(Array.from({ length: 8 }, (_, n) => run(definition, { n })));
    for (const [n, result] of results.entries()) {
      expect(result).toMatchObject({ status: "succeeded", outputs: { double: n * 2, label: `n=${n} doubled=${n * 2}` } });
      const rows = await db.stepRun.findMany({ where: { runId: result.runId }, orderBy: { startedAt: "asc" } });
      expect(rows.map((r) => [r.stepId, r.status, JSON.parse(r.output!)])).toEqual([["double", "succeeded", n * 2], ["label", "succeeded", `n=${n} doubled=${n * 2}`]]);
      const events = published.filter((e) => e.runId === result.runId);
      expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
      expect(events.filter((e) => e.type === "step.status" && e.status === "succeeded")).toHaveLength(2);
      const stored = await db.run.findUniqueOrThrow({ where: { id: result.runId } });
      expect(stored).toMatchObject({ status: "succeeded", lastSeq: events.length, leaseOwner: null });
      expect(stored.startedAt).toBeInstanceOf(Date);
      expect(stored.finishedAt!.getTime()).toBeGreaterThanOrEqual(stored.startedAt!.getTime());
    }
  });
});
