import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openSql } from "@/lib/db/sql";
import { SqlCheckpointSaver } from "@/lib/checkpoint/sql-saver";
import { InvalidRunError } from "@/lib/engine/errors";
import { inFlightHighWater, startLlmGateway, type GatewayRequest, type LlmGateway } from "@/e2e/fixtures/llm-gateway";
import { openTestRunner, testDatabases } from "@/e2e/fixtures/databases";
import type { RunEvent } from "./event-types";
import { Runner } from "./runner";

/**
 * Concurrency per workflow with the real runner (inline mode) on SQLite and Postgres. What runs at once is measured
 * at the LLM gateway: the high-water mark of overlapping requests of a workflow's runs (each run is one slow call).
 */
const databases = await testDatabases();

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe.each(databases)("concurrency per workflow on %s", (_name, makeDatabase, available) => {
  let harness: Awaited<ReturnType<typeof openTestRunner>>;
  let gateway: LlmGateway;
  let databaseUrl: string;
  const published: RunEvent[] = [];

  beforeAll(async () => {
    if (!available) return;
    gateway = await startLlmGateway();
    process.env.LLM_GATEWAY_URL = gateway.url;
    process.env.LLM_API_KEY = "test";
    // Room for 8 runs in the process: whatever holds them back is the workflow's limit.
    const database = makeDatabase();
    databaseUrl = database.url;
    harness = await openTestRunner(database, { concurrency: 8, leaseMs: 1500, publisher: { publish: (e) => published.push(e), publishToken() {} } });
  }, 60_000);

  afterAll(async () => {
    if (!available) return;
    await harness.close();
    await gateway.close();
  });

  const slowRun = (id: string, tag: string, concurrency: unknown, model = "slow-300") => ({
    id,
    name: id,
    concurrency,
    steps: [{ id: "ask", type: "llm", config: { model, prompt: `${tag} {{ input.customerId }} {{ input.n }}` } }],
  });
  const start = (definition: unknown, input: unknown) => harness.runner.startRun({ definition, input, ownerId: harness.userId, source: "api" });
  const requestsTagged = (tag: string) => gateway.requests.filter((r) => r.messages.at(-1)?.content.startsWith(`${tag} `));
  const row = (runId: string) => harness.db.run.findUniqueOrThrow({ where: { id: runId } });

  it.skipIf(!available)("limit 2: of 6 runs started at once never more than 2 run, all succeed, first created first started", async () => {
    const tag = `lim2-${Date.now()}`;
    const def = slowRun("limit-two", tag, { limit: 2 });
    const runs: string[] = [];
    for (let n = 0; n < 6; n++) runs.push((await start(def, { customerId: "x", n })).runId);
    // While the first two run, the others wait queued with their reason.
    await until(async () => (await row(runs[5])).queueReason !== null, "the last run to say why it waits");
    const waiting = await row(runs[5]);
    expect(waiting.status).toBe("queued");
    expect(waiting.queueReason).toMatch(/^waiting for a concurrency slot \(2 of 2 running; \d queued before it\)$/);
    await until(() => published.some((e) => e.runId === runs[5] && e.type === "run.status" && e.status === "queued" && e.reason?.startsWith("waiting for a concurrency slot") === true), "the event saying why it waits");

    const results = await Promise.all(runs.map((id) => harness.runner.waitForRun(id)));
    expect(results.map((r) => r.status)).toEqual(runs.map(() => "succeeded"));
    expect(requestsTagged(tag)).toHaveLength(6);
    expect(inFlightHighWater(requestsTagged(tag))).toBe(2);
    const rows = await Promise.all(runs.map(row));
    const startOrder = [...rows].sort((a, b) => a.startedAt!.getTime() - b.startedAt!.getTime()).map((r) => r.id);
    expect(startOrder).toEqual(runs);
    expect(rows.every((r) => r.queueReason === null && r.concurrencyKey === "" && r.concurrencyLimit === 2)).toBe(true);
  });

  it.skipIf(!available)("key input.customerId, limit 1: the same customer's runs one at a time, different customers in parallel", async () => {
    const tag = `key-${Date.now()}`;
    // 1.5 s calls: the three customers' first runs overlap even when starting a run is slow (a loaded machine).
    const def = slowRun("per-customer", tag, { limit: 1, key: "input.customerId" }, "slow-1500");
    const inputs = [{ customerId: "acme", n: 1 }, { customerId: "acme", n: 2 }, { customerId: "acme", n: 3 }, { customerId: "globex", n: 1 }, { customerId: "globex", n: 2 }, { customerId: "initech", n: 1 }];
    const runs: string[] = [];
    for (const input of inputs) runs.push((await start(def, input)).runId);
    let reason: string | null = null;
    await until(async () => (reason = (await row(runs[2])).queueReason) !== null, "acme's third run to say why it waits");
    // Read while acme's first run holds the slot (or, on a slow machine, once its second does).
    expect(reason).toMatch(/^waiting for a concurrency slot \(1 of 1 running with concurrency key "acme"(; 1 queued before it)?\)$/);
    const results = await Promise.all(runs.map((id) => harness.runner.waitForRun(id)));
    expect(results.map((r) => r.status)).toEqual(runs.map(() => "succeeded"));
    const of = (customer: string) => requestsTagged(tag).filter((r) => r.messages.at(-1)!.content.startsWith(`${tag} ${customer} `));
    expect(of("acme")).toHaveLength(3);
    expect(inFlightHighWater(of("acme"))).toBe(1);
    expect(inFlightHighWater(of("globex"))).toBe(1);
    // Three customers: their runs overlapped (each customer's first run started at once).
    expect(inFlightHighWater(requestsTagged(tag))).toBe(3);
    expect((await row(runs[0])).concurrencyKey).toBe("acme");
  });

  it.skipIf(!available)("a cancelled queued run never starts and frees nothing; a run waiting at an approval holds no slot", async () => {
    const tag = `cancel-${Date.now()}`;
    const def = slowRun("cancel-queued", tag, { limit: 1 }, "slow-1500");
    const first = (await start(def, { customerId: "a", n: 1 })).runId;
    const second = (await start(def, { customerId: "a", n: 2 })).runId;
    const third = (await start(def, { customerId: "a", n: 3 })).runId;
    await until(async () => (await row(second)).queueReason !== null, "the second run to wait");
    expect(await harness.runner.cancelRun(second, harness.userId)).toMatchObject({ status: "cancelled" });
    expect(await harness.runner.waitForRun(second)).toMatchObject({ status: "cancelled" });
    // The first still holds the only slot: the third waits until it ends.
    expect((await row(first)).status).toBe("running");
    expect((await row(third)).status).toBe("queued");
    expect(await harness.runner.waitForRun(first)).toMatchObject({ status: "succeeded" });
    expect(await harness.runner.waitForRun(third)).toMatchObject({ status: "succeeded" });
    const second_ = await row(second);
    expect(second_.startedAt).toBeNull();
    expect(requestsTagged(tag).map((r) => r.messages.at(-1)!.content)).toEqual([`${tag} a 1`, `${tag} a 3`]);
    expect(inFlightHighWater(requestsTagged(tag))).toBe(1);

    const approvalDef = {
      id: "approve-then-go",
      name: "Approve then go",
      concurrency: { limit: 1 },
      steps: [
        { id: "gate", type: "approval", config: { message: "ok?" } },
        { id: "ask", type: "llm", config: { model: "test-model", prompt: `${tag} approval {{ input.n }}` } },
      ],
    };
    const paused = (await start(approvalDef, { n: 1 })).runId;
    expect(await harness.runner.waitForRun(paused)).toMatchObject({ status: "waiting" });
    const other = (await start(approvalDef, { n: 2 })).runId;
    expect(await harness.runner.waitForRun(other)).toMatchObject({ status: "waiting" });
    await harness.runner.decideApproval(paused, harness.userId, { approved: true, decidedBy: harness.userId });
    expect(await harness.runner.waitForRun(paused)).toMatchObject({ status: "succeeded" });
  });

  it.skipIf(!available)("a slot held by a process that died frees when its lease expires", async () => {
    const tag = `dead-${Date.now()}`;
    const def = slowRun("dead-holder", tag, { limit: 1 }, "test-model");
    // A run another process was executing when it was killed: running, its lease no longer renewed.
    const { runId: dead } = await start({ ...def, steps: [{ id: "gate", type: "approval", config: { message: "hold" } }] }, { customerId: "d", n: 0 });
    expect(await harness.runner.waitForRun(dead)).toMatchObject({ status: "waiting" });
    const leaseEnds = new Date(Date.now() + 2000);
    await harness.db.run.update({ where: { id: dead }, data: { status: "running", leaseOwner: "proc_killed", leaseExpiresAt: leaseEnds } });
    const startedAt = Date.now();
    const { runId } = await start(def, { customerId: "d", n: 1 });
    await until(async () => (await row(runId)).queueReason !== null, "the run to wait for the dead process's slot");
    expect((await row(runId)).queueReason).toBe("waiting for a concurrency slot (1 of 1 running)");
    expect(await harness.runner.waitForRun(runId)).toMatchObject({ status: "succeeded" });
    const started = (await row(runId)).startedAt!.getTime();
    expect(started).toBeGreaterThanOrEqual(leaseEnds.getTime());
    // Within the retry interval (1 s) and a slow machine's margin of the lease's end.
    expect(started - startedAt).toBeLessThan(10_000);
  });

  it.skipIf(!available)("two processes on one database share the limit: never more than one of 6 runs at once", async () => {
    const tag = `procs-${Date.now()}`;
    const def = slowRun("two-procs", tag, { limit: 1 });
    // A second runner with its own connections: another process as far as the database can tell.
    const sql = openSql(databaseUrl);
    const other = new Runner({ db: harness.db, sql, checkpointer: new SqlCheckpointSaver(sql), concurrency: 8, leaseMs: 1500, publisher: { publish() {}, publishToken() {} } });
    try {
      const runs = await Promise.all(
        Array.from({ length: 6 }, (_, n) => (n % 2 ? other : harness.runner).startRun({ definition: def, input: { customerId: "p", n }, ownerId: harness.userId, source: "api" }).then((r) => ({ ...r, runner: n % 2 ? other : harness.runner }))),
      );
      const results = await Promise.all(runs.map(({ runId, runner }) => runner.waitForRun(runId)));
      expect(results.map((r) => r.status)).toEqual(runs.map(() => "succeeded"));
      expect(requestsTagged(tag)).toHaveLength(6);
      expect(inFlightHighWater(requestsTagged(tag))).toBe(1);
    } finally {
      await other.drain();
      await sql.close();
    }
  });

  it.skipIf(!available)("the key is bounded: a huge value, an endless loop, a missing field or a long key refuse the run naming concurrency.key", async () => {
    const refusal = async (key: string, input: unknown) => {
      const began = Date.now();
      const err = await start({ id: "hostile-key", name: "Hostile key", concurrency: { limit: 1, key }, steps: [{ id: "t", type: "transform", config: { output: 1 } }] }, input).catch((e) => e);
      expect(err).toBeInstanceOf(InvalidRunError);
      expect(err.code).toBe("INVALID_INPUT");
      expect(err.issues[0]).toMatchObject({ field: "concurrency.key", code: "INVALID_CONCURRENCY_KEY" });
      // Bounded in time: the key's own 0.5 s budget, plus a slow machine's worker start.
      expect(Date.now() - began).toBeLessThan(10_000);
      return err.message as string;
    };
    expect(await refusal('$pad("", 50000000)', {})).toMatch(/concurrency\.key "\$pad\(\\?"\\?", 50000000\)" could not be evaluated for this input: .*larger than 65536 bytes/);
    expect(await refusal("($f := function($n) { $f($n + 1) }; $f(0))", {})).toMatch(/could not be evaluated/);
    expect(await refusal("$count($map([1..10000000], function($v) { $v * 2 }))", {})).toMatch(/could not be evaluated/);
    expect(await refusal("input.customerId", { other: 1 })).toMatch(/evaluated to nothing for this input/);
    expect(await refusal("input.customerId", { customerId: "x".repeat(201) })).toMatch(/evaluated to 201 characters; a key is at most 200/);
    // Nothing was stored for the refused runs.
    expect(await harness.db.run.count({ where: { workflowId: "hostile-key" } })).toBe(0);
    // An object key is its JSON text.
    const { runId } = await start({ id: "object-key", name: "Object key", concurrency: { limit: 1, key: "{ 'c': input.c }" }, steps: [{ id: "t", type: "transform", config: { output: 1 } }] }, { c: 7 });
    expect(await harness.runner.waitForRun(runId)).toMatchObject({ status: "succeeded" });
    expect((await row(runId)).concurrencyKey).toBe('{"c":7}');
  });
});
