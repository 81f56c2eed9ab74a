import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SqlCheckpointSaver } from "@/lib/checkpoint/sql-saver";
import { createDb, ensureLocalUser, type Db } from "@/lib/db";
import { openSql } from "@/lib/db/sql";
import { Runner } from "@/lib/runner/runner";
import { startLlmGateway } from "@/e2e/fixtures/llm-gateway";

/** Drives the real CLI binary in child processes against a real SQLite file and the loopback test gateway. */
const run = promisify(execFile);
const BIN = path.resolve("bin/orchestrator.mjs");

let dir: string;
let gateway: Awaited<ReturnType<typeof startLlmGateway>>;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "orchestrator-cli-"));
  gateway = await startLlmGateway();
  env = { ...process.env, DATABASE_URL: `file:${path.join(dir, "cli.db")}`, LLM_GATEWAY_URL: gateway.url, LLM_API_KEY: "k", LOG_LEVEL: "silent" };
});
afterAll(async () => {
  await gateway.close();
  rmSync(dir, { recursive: true, force: true });
});

async function cli(...args: string[]) {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], { env, cwd: dir });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

function file(name: string, value: unknown) {
  const p = path.join(dir, name);
  writeFileSync(p, typeof value === "string" ? value : JSON.stringify(value));
  return p;
}

const seed = {
  id: "seed",
  name: "Seed",
  steps: [
    { id: "ask", type: "llm", config: { prompt: "About {{ input.topic }}", model: "gpt-4o-mini" } },
    { id: "shout", type: "transform", config: { output: "{{ $uppercase(steps.ask.text) }}" } },
  ],
};

describe("orchestrator CLI", () => {
  it("run --json prints { runId, status, outputs } and exits 0; the run is stored for the web history", async () => {
    const res = await cli("run", file("seed.json", seed), "--input", '{"topic":"x"}', "--json");
    expect(res.code).toBe(0);
    const out = JSON.parse(res.stdout);
    expect(out).toEqual({ runId: expect.any(String), status: "succeeded", outputs: { ask: expect.objectContaining({ text: "Echo: About x" }), shout: "ECHO: ABOUT X" } });
    const db: Db = await createDb(env.DATABASE_URL);
    const stored = await db.run.findUnique({ where: { id: out.runId } });
    expect(stored).toMatchObject({ status: "succeeded", source: "cli", ownerId: "local" });
    await db.$disconnect();
  });

  it("exits 1 with error { code, message, stepId } when the run fails", async () => {
    const failing = { ...seed, id: "failing", steps: [{ id: "ask", type: "llm", config: { prompt: "x", model: "fail-503" } }] };
    const res = await cli("run", file("failing.json", failing), "--json");
    expect(res.code).toBe(1);
    const out = JSON.parse(res.stdout);
    expect(out.status).toBe("failed");
    expect(out.error).toMatchObject({ code: "LLM_REQUEST_FAILED", stepId: "ask" });
  });

  it("exits 2 naming the step and field for an invalid definition, input or usage", async () => {
    const broken = { id: "b", name: "b", steps: [{ id: "ask", type: "llm", config: { model: "m" } }] };
    const invalid = await cli("run", file("broken.json", broken), "--json");
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toMatch(/step "ask" field "config.prompt"/);

    const withSchema = { ...seed, id: "typed", input: { type: "object", properties: { topic: { type: "string" } }, required: ["topic"] } };
    const badInput = await cli("run", file("typed.json", withSchema), "--input", '{"topic":1}');
    expect(badInput.code).toBe(2);
    expect(badInput.stderr).toMatch(/input\.topic: must be string/);

    expect((await cli("run", file("typed.json", withSchema), "--input", "{nope")).code).toBe(2);
    expect((await cli("frobnicate")).code).toBe(2);
    expect((await cli("run", path.join(dir, "missing.json"))).code).toBe(2);
  });

  it("validate exits 0 for a valid file and 2 with the issues otherwise", async () => {
    expect((await cli("validate", path.resolve("examples/review-loop.json"))).code).toBe(0);
    const res = await cli("validate", file("dup.json", { id: "d", name: "d", steps: [{ id: "a", type: "transform", config: { output: 1 } }, { id: "a", type: "transform", config: { output: 1 } }] }), "--json");
    expect(res.code).toBe(2);
    expect(JSON.parse(res.stdout).issues).toContainEqual(expect.objectContaining({ code: "DUPLICATE_STEP_ID", stepId: "a" }));
  });

  it("import saves a workflow, then a new version of it, and prints its id", async () => {
    const first = await cli("import", file("seed.json", seed));
    expect(first).toMatchObject({ code: 0, stdout: "seed\n" });
    const second = await cli("import", file("seed.json", seed), "--json");
    expect(JSON.parse(second.stdout)).toEqual({ workflowId: "seed", version: 2 });
  });

  it("runs --json lists runs newest first, filtered by workflow and status", async () => {
    const res = await cli("runs", "--json");
    expect(res.code).toBe(0);
    const all = JSON.parse(res.stdout);
    expect(all.length).toBeGreaterThanOrEqual(2);
    expect(Object.keys(all[0]).sort()).toEqual(["finishedAt", "runId", "startedAt", "status", "workflowId"]);
    const started = all.map((r: { startedAt: string }) => r.startedAt);
    expect(started).toEqual([...started].sort().reverse());
    const failed = JSON.parse((await cli("runs", "--status", "failed", "--json")).stdout);
    expect(failed.length).toBeGreaterThan(0);
    expect(failed.every((r: { status: string }) => r.status === "failed")).toBe(true);
    const seedRuns = JSON.parse((await cli("runs", "--workflow", "seed", "--json")).stdout);
    expect(seedRuns.every((r: { workflowId: string }) => r.workflowId === "seed")).toBe(true);
    expect((await cli("runs", "--status", "bogus")).code).toBe(2);
  });

  it("cancel stops a run executing in another process within a second", async () => {
    // This test process plays the server: it executes the run; the CLI child asks for the cancel.
    const db = await createDb(env.DATABASE_URL);
    const sql = openSql(env.DATABASE_URL!);
    const runner = new Runner({ db, sql, checkpointer: new SqlCheckpointSaver(sql), concurrency: 2 });
    const saved = process.env.LLM_GATEWAY_URL;
    process.env.LLM_GATEWAY_URL = gateway.url;
    try {
      const slow = { id: "slow", name: "Slow", steps: [{ id: "ask", type: "llm", config: { model: "slow-20000", prompt: "x" } }] };
      const { runId } = await runner.startRun({ definition: slow, ownerId: await ensureLocalUser(db) });
      const res = await cli("cancel", runId, "--json");
      expect(res.code).toBe(0);
      expect(JSON.parse(res.stdout)).toEqual({ runId, status: "cancelled" });
      const run = await db.run.findUniqueOrThrow({ where: { id: runId } });
      expect(run.finishedAt!.getTime() - run.cancelRequestedAt!.getTime()).toBeLessThan(1000);
      await expect.poll(() => gateway.requests.find((r) => r.model === "slow-20000")?.aborted).toBe(true);
      expect((await cli("cancel", "run_unknown")).code).toBe(2);
    } finally {
      process.env.LLM_GATEWAY_URL = saved;
      await runner.drain();
      await sql.close();
      await db.$disconnect();
    }
  });
});
