import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SqlCheckpointSaver } from "@/lib/checkpoint/sql-saver";
import { createDb, ensureLocalUser, type Db } from "@/lib/db";
import { openSql } from "@/lib/db/sql";
import { Runner } from "@/lib/runner/runner";
import { runCli } from "@/e2e/fixtures/cli-process";
import { startLlmGateway } from "@/e2e/fixtures/llm-gateway";

/** Drives the real CLI binary in child processes against a real SQLite file and the loopback test gateway. */

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

const cli = (...args: string[]) => runCli(args, { env, cwd: dir });

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

// Every test spawns several CLI processes (about a second each, several under load on a 2-core CI machine):
// the timeout bounds a hang, not the speed.
describe("orchestrator CLI", { timeout: 120_000 }, () => {
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

  it("exits 2 naming the nesting limit for a config nested 5,000 levels or --input nested 20,000, never a stack overflow", async () => {
    const nested = (levels: number) => `${'{"a":'.repeat(levels)}"x"${"}".repeat(levels)}`;
    const deepConfig = file("deep.json", JSON.stringify({ id: "deep", name: "Deep", steps: [{ id: "t", type: "transform", config: { output: "@" } }] }).replace('"@"', nested(5000)));
    const limit = /step "t" field "config\.output".*is nested more than 100 levels deep \(the nesting limit, ORCHESTRATOR_MAX_JSON_DEPTH\)/;
    for (const command of ["validate", "run", "import"]) {
      const res = await cli(command, deepConfig);
      expect(res.code, command).toBe(2);
      expect(res.stdout + res.stderr).toMatch(limit);
      expect(res.stdout + res.stderr).not.toMatch(/call stack/);
    }
    const validated = JSON.parse((await cli("validate", deepConfig, "--json")).stdout);
    expect(validated).toMatchObject({ valid: false, issues: [{ code: "NESTING_LIMIT", stepId: "t", field: "config.output" }] });

    const deepInput = await cli("run", file("seed.json", seed), "--input", `${"[".repeat(20_000)}${"]".repeat(20_000)}`, "--json");
    expect(deepInput.code).toBe(2);
    expect(JSON.parse(deepInput.stdout).error).toMatchObject({ code: "INVALID_INPUT", issues: [{ code: "NESTING_LIMIT", field: "input" }] });
    expect(deepInput.stderr).toMatch(/input\[0\]\[0\]\[0\]\[0\]…: is nested more than 100 levels deep \(the nesting limit, ORCHESTRATOR_MAX_JSON_DEPTH\)/);
  });

  it("exits 2 naming the path for numbers JSON cannot store (1e400 is Infinity) and __proto__ keys, in the file or --input", async () => {
    const huge = file("huge.json", '{"id":"huge","name":"Huge","steps":[{"id":"t","type":"transform","config":{"output":{"n":1e400}}}]}');
    const res = await cli("validate", huge);
    expect(res.code).toBe(2);
    expect(res.stdout + res.stderr).toMatch(/step "t" field "config\.output\.n": Infinity is not a finite number/);
    const badInput = await cli("run", file("seed.json", seed), "--input", '{"topic":"x","weights":[1e400]}', "--json");
    expect(badInput.code).toBe(2);
    expect(badInput.stderr).toMatch(/input\.weights\[0\]: Infinity is not a finite number/);
    const proto = await cli("run", file("seed.json", seed), "--input", '{"topic":"x","__proto__":{"admin":true}}', "--json");
    expect(proto.code).toBe(2);
    expect(proto.stderr).toMatch(/input\.__proto__: "__proto__" is not allowed as a field name/);
    const badId = await cli("validate", file("bad-id.json", { ...seed, id: "../seed" }));
    expect(badId.code).toBe(2);
    expect(badId.stdout + badId.stderr).toMatch(/id: use letters, digits, _, - and \./);
  });

  it("validate exits 0 for a valid file and 2 with the issues otherwise", async () => {
    expect((await cli("validate", path.resolve("examples/review-loop.json"))).code).toBe(0);
    const res = await cli("validate", file("dup.json", { id: "d", name: "d", steps: [{ id: "a", type: "transform", config: { output: 1 } }, { id: "a", type: "transform", config: { output: 1 } }] }), "--json");
    expect(res.code).toBe(2);
    expect(JSON.parse(res.stdout).issues).toContainEqual(expect.objectContaining({ code: "DUPLICATE_STEP_ID", stepId: "a" }));
  });

  it("import saves a workflow, then a new version of it, and prints its id", async () => {
    // An id no run used before: `run` saves its file as a version too.
    const imported = { ...seed, id: "imported" };
    const first = await cli("import", file("imported.json", imported));
    expect(first).toMatchObject({ code: 0, stdout: "imported\n" });
    const second = await cli("import", file("imported.json", imported), "--json");
    expect(JSON.parse(second.stdout)).toEqual({ workflowId: "imported", version: 2 });
  });

  it("run saves the file as the workflow's latest version (once per content) and links the run to it", async () => {
    const linked = { id: "linked", name: "Linked", input: { type: "object", properties: { n: { type: "number" } } }, steps: [{ id: "double", type: "transform", config: { output: "{{ input.n * 2 }}" } }] };
    const refused = await cli("run", file("linked.json", linked), "--input", '{"n":"two"}', "--json");
    expect(refused.code).toBe(2);
    const db: Db = await createDb(env.DATABASE_URL);
    try {
      expect(await db.workflow.findUnique({ where: { id: "linked" } })).toBeNull(); // a refused run saves nothing
      const first = JSON.parse((await cli("run", file("linked.json", linked), "--input", '{"n":2}', "--json")).stdout);
      const again = JSON.parse((await cli("run", file("linked.json", linked), "--input", '{"n":3}', "--json")).stdout);
      const edited = JSON.parse((await cli("run", file("linked.json", { ...linked, name: "Linked, renamed" }), "--input", '{"n":4}', "--json")).stdout);
      expect([first.outputs.double, again.outputs.double, edited.outputs.double]).toEqual([4, 6, 8]);
      const versionOf = async (runId: string) => (await db.run.findUniqueOrThrow({ where: { id: runId } })).workflowVersion;
      expect([await versionOf(first.runId), await versionOf(again.runId), await versionOf(edited.runId)]).toEqual([1, 1, 2]);
      const workflow = await db.workflow.findUniqueOrThrow({ where: { id: "linked" }, include: { versions: { orderBy: { version: "asc" } } } });
      expect(workflow).toMatchObject({ ownerId: "local", name: "Linked, renamed", latestVersion: 2 });
      expect(JSON.parse(workflow.versions[0].definition)).toMatchObject({ id: "linked", steps: [{ id: "double" }] });
    } finally {
      await db.$disconnect();
    }
  });

  it("runs --json lists runs newest first, filtered by workflow and status", async () => {
    const res = await cli("runs", "--json");
    expect(res.code).toBe(0);
    const all = JSON.parse(res.stdout);
    expect(all.length).toBeGreaterThanOrEqual(2);
    expect(Object.keys(all[0]).sort()).toEqual(["costUsd", "durationMs", "finishedAt", "runId", "startedAt", "status", "trigger", "workflowId"]);
    const started = all.map((r: { startedAt: string }) => r.startedAt);
    expect(started).toEqual([...started].sort().reverse());
    const failed = JSON.parse((await cli("runs", "--status", "failed", "--json")).stdout);
    expect(failed.length).toBeGreaterThan(0);
    expect(failed.every((r: { status: string }) => r.status === "failed")).toBe(true);
    const seedRuns = JSON.parse((await cli("runs", "--workflow", "seed", "--json")).stdout);
    expect(seedRuns.every((r: { workflowId: string }) => r.workflowId === "seed")).toBe(true);
    expect((await cli("runs", "--status", "bogus")).code).toBe(2);
  });

  it("runs filters by trigger, date and text, and pages with --limit and --cursor", async () => {
    for (const topic of ["platypus one", "platypus two", "platypus three"]) expect((await cli("run", file("seed.json", seed), "--input", JSON.stringify({ topic }))).code).toBe(0);
    const cliRuns = JSON.parse((await cli("runs", "--trigger", "cli", "--json", "--limit", "500")).stdout);
    expect(cliRuns.length).toBeGreaterThanOrEqual(3);
    expect(cliRuns.every((r: { trigger: string }) => r.trigger === "cli")).toBe(true);
    expect(cliRuns[0].durationMs).toEqual(expect.any(Number));
    expect(JSON.parse((await cli("runs", "--trigger", "webhook", "--json")).stdout)).toEqual([]);
    expect(JSON.parse((await cli("runs", "--since", "2999-01-01", "--json")).stdout)).toEqual([]);

    const found = JSON.parse((await cli("runs", "--search", "PLATYPUS", "--json")).stdout);
    expect(found).toHaveLength(3);
    // Pages of two: the cursor goes to stderr with --json, to a trailing line in text.
    const first = await cli("runs", "--search", "platypus", "--limit", "2", "--json");
    expect(JSON.parse(first.stdout).map((r: { runId: string }) => r.runId)).toEqual(found.slice(0, 2).map((r: { runId: string }) => r.runId));
    const cursor = /next cursor: (\S+)/.exec(first.stderr)?.[1];
    expect(cursor).toBeTruthy();
    const second = await cli("runs", "--search", "platypus", "--limit", "2", "--cursor", cursor!, "--json");
    expect(JSON.parse(second.stdout).map((r: { runId: string }) => r.runId)).toEqual([found[2].runId]);
    expect(second.stderr).not.toMatch(/next cursor/);
    const text = await cli("runs", "--search", "platypus", "--limit", "2");
    expect(text.stdout.trim().split("\n").at(-1)).toBe(`more: --cursor ${cursor}`);

    for (const [args, message] of [
      [["--trigger", "cron"], /--trigger: one of/],
      [["--since", "last week"], /--since: a date/],
      [["--search", "ab"], /--search: enter at least 3 characters/],
      [["--limit", "0"], /--limit: at least 1/],
      [["--limit", "501"], /--limit: at most 500/],
      [["--cursor", "garbage"], /cursor: not a cursor of this list/],
    ] as const) {
      const res = await cli("runs", ...args);
      expect(res.code, args.join(" ")).toBe(2);
      expect(res.stderr).toMatch(message);
      expect(res.stderr).not.toMatch(/\n\s+at /); // no stack trace
    }
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

  it("approve: run exits 3 while waiting; approve --data resumes it (0), --reject fails it (1), bad data is refused (2)", async () => {
    const gated = {
      id: "gated",
      name: "Gated",
      steps: [
        { id: "draft", type: "transform", config: { output: "v{{ input.n }}" } },
        { id: "ok", type: "approval", config: { message: "Ship {{ steps.draft }}?", form: { type: "object", properties: { who: { type: "string" } }, required: ["who"] } } },
        { id: "ship", type: "transform", config: { output: "{{ steps.draft }} by {{ steps.ok.data.who }}" } },
      ],
    };
    const paused = await cli("run", file("gated.json", gated), "--input", '{"n":2}', "--json");
    expect(paused.code).toBe(3);
    const { runId, status } = JSON.parse(paused.stdout);
    expect(status).toBe("waiting");
    expect(JSON.parse((await cli("runs", "--status", "waiting", "--json")).stdout).map((r: { runId: string }) => r.runId)).toContain(runId);

    const bad = await cli("approve", runId, "--data", "{}", "--json");
    expect(bad.code).toBe(2);
    expect(JSON.parse(bad.stdout).error.message).toMatch(/data\.who: is required/);
    const deepData = await cli("approve", runId, "--data", `${'{"who":'.repeat(5000)}"x"${"}".repeat(5000)}`, "--json");
    expect(deepData.code).toBe(2);
    expect(JSON.parse(deepData.stdout).error.message).toMatch(/data\.who\.who\.who\.who…: is nested more than 100 levels deep \(the nesting limit/);
    const approved = await cli("approve", runId, "--data", '{"who":"ana"}', "--by", "ana", "--json");
    expect(approved.code).toBe(0);
    expect(JSON.parse(approved.stdout)).toMatchObject({ runId, status: "succeeded", outputs: { ship: "v2 by ana", ok: { approved: true, decidedBy: "ana" } } });
    expect((await cli("approve", runId)).code).toBe(2);

    const again = JSON.parse((await cli("run", file("gated.json", gated), "--input", '{"n":3}', "--json")).stdout);
    const rejected = await cli("approve", again.runId, "--reject", "--comment", "too early", "--json");
    expect(rejected.code).toBe(1);
    expect(JSON.parse(rejected.stdout).error).toMatchObject({ code: "REJECTED", stepId: "ok" });
  });

  const chain = {
    id: "chain",
    name: "Chain",
    vars: { suffix: "!" },
    steps: [
      { id: "a", type: "transform", config: { output: { word: "hello" } } },
      { id: "b", type: "transform", config: { output: "{{ steps.a.word }}{{ vars.suffix }}" } },
    ],
  };

  it("checkpoints lists a run's checkpoints; fork --set starts a linked run from one with edited state", async () => {
    const first = JSON.parse((await cli("run", file("chain.json", chain), "--json")).stdout);
    expect(first.outputs.b).toBe("hello!");
    const listed = await cli("checkpoints", first.runId, "--json");
    expect(listed.code).toBe(0);
    const checkpoints = JSON.parse(listed.stdout);
    const afterA = checkpoints.find((c: { changed: { steps: string[] } }) => c.changed.steps.includes("a"));
    expect(afterA).toMatchObject({ checkpointId: expect.any(String), current: true, step: expect.any(Number), createdAt: expect.any(String) });
    expect((await cli("checkpoints", first.runId)).stdout).toContain(afterA.checkpointId);

    const forked = await cli("fork", first.runId, "--checkpoint", afterA.checkpointId, "--set", "steps.a.word=bye", "--set", 'vars.suffix="?"', "--json");
    expect(forked.code).toBe(0);
    const fork = JSON.parse(forked.stdout);
    expect(fork).toMatchObject({ status: "succeeded", outputs: { a: { word: "bye" }, b: "bye?" } });
    expect(fork.runId).not.toBe(first.runId);
    expect((await cli("fork", first.runId, "--checkpoint", afterA.checkpointId, "--set", "nope")).code).toBe(2);
    const deepSet = await cli("fork", first.runId, "--checkpoint", afterA.checkpointId, "--set", `steps.a.word=${"[".repeat(20_000)}${"]".repeat(20_000)}`);
    expect(deepSet.code).toBe(2);
    expect(deepSet.stderr).toMatch(/--set steps\.a\.word\[0\]\[0\]\[0\]\[0\]…: is nested more than 100 levels deep \(the nesting limit/);
    expect((await cli("fork", first.runId, "--checkpoint", "missing")).code).toBe(2);
  });

  it("resume --checkpoint re-runs a run from one of its checkpoints, keeping its id", async () => {
    const first = JSON.parse((await cli("run", file("chain.json", chain), "--json")).stdout);
    const checkpoints = JSON.parse((await cli("checkpoints", first.runId, "--json")).stdout);
    const afterA = checkpoints.find((c: { changed: { steps: string[] } }) => c.changed.steps.includes("a"));
    const resumedHere = await cli("resume", first.runId, "--checkpoint", afterA.checkpointId, "--json");
    expect(resumedHere.code).toBe(0);
    expect(JSON.parse(resumedHere.stdout)).toMatchObject({ runId: first.runId, status: "succeeded", outputs: { b: "hello!" } });
  });

  it("resume re-runs a failed run from its failed step", async () => {
    const failing = { id: "failing", name: "Failing", steps: [{ id: "x", type: "transform", config: { output: "{{ $number(input.n) + 1 }}" } }] };
    const failed = JSON.parse((await cli("run", file("failing.json", failing), "--input", '{"n":"nan"}', "--json")).stdout);
    expect(failed.status).toBe("failed");
    const resumed = await cli("resume", failed.runId, "--json");
    expect(resumed.code).toBe(1);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ runId: failed.runId, status: "failed", error: { stepId: "x" } });
  });
});
