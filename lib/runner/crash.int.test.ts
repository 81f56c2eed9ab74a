import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLlmGateway, type LlmGateway } from "@/e2e/fixtures/llm-gateway";
import { createDb, type Db } from "@/lib/db";

/**
 * Crash and resume with real processes: a CLI process executing a run is killed with SIGKILL while a step's
 * LLM call is in flight; `orchestrator resume` in a new process finishes the run from its last checkpoint.
 * The steps that finished before the crash must not be executed again. CRASH_REPEAT sets the repetitions.
 */
const BIN = path.resolve("bin/orchestrator.mjs");
const REPEAT = Number(process.env.CRASH_REPEAT ?? 2);

let dir: string;
let gateway: LlmGateway;
let db: Db;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "orchestrator-crash-"));
  gateway = await startLlmGateway();
  env = {
    ...process.env,
    DATABASE_URL: `file:${path.join(dir, "crash.db")}`,
    LLM_GATEWAY_URL: gateway.url,
    LLM_API_KEY: "k",
    ORCHESTRATOR_LEASE_MS: "1000",
    LOG_LEVEL: "silent",
  };
  db = await createDb(env.DATABASE_URL);
});
afterAll(async () => {
  await db.$disconnect();
  await gateway.close();
  rmSync(dir, { recursive: true, force: true });
});

function start(args: string[]) {
  const child = spawn(process.execPath, [BIN, ...args], { env, cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, exited, output: () => ({ stdout, stderr }) };
}

const until = async (check: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
};

describe("kill -9 during a step, then resume", () => {
  it.each(Array.from({ length: REPEAT }, (_, i) => i + 1))("repetition %i: finished steps are not repeated", async (repetition) => {
    const tag = `r${repetition}-${Date.now()}`;
    const file = path.join(dir, `${tag}.json`);
    writeFileSync(
      file,
      JSON.stringify({
        id: `crash-${tag}`,
        name: "Crash",
        steps: [
          { id: "first", type: "llm", config: { model: "slow-100", prompt: `alpha ${tag}` } },
          { id: "second", type: "llm", config: { model: "slow-3000", prompt: `beta ${tag}` } },
          { id: "third", type: "transform", config: { output: "{{ steps.first.text & ' / ' & steps.second.text }}" } },
        ],
      }),
    );
    const prompt = (r: { messages: Array<{ content: string }> }) => r.messages.at(-1)?.content;
    const requestsFor = (text: string) => gateway.requests.filter((r) => prompt(r) === text);

    const victim = start(["run", file, "--json"]);
    await until(() => requestsFor(`beta ${tag}`).length === 1, "the second step to be in flight");
    expect(requestsFor(`alpha ${tag}`)[0].finishedAt).toBeDefined();
    victim.child.kill("SIGKILL");
    await victim.exited;

    const run = await db.run.findFirstOrThrow({ where: { workflowId: `crash-${tag}` } });
    expect(run.status).toBe("running"); // left behind by the killed process

    const rescuer = start(["resume", run.id, "--json"]);
    const code = await rescuer.exited;
    const { stdout, stderr } = rescuer.output();
    expect(code, stderr).toBe(0);
    const result = JSON.parse(stdout);
    expect(result).toMatchObject({ runId: run.id, status: "succeeded" });
    expect(result.outputs.first.text).toBe(`Echo: alpha ${tag}`);
    expect(result.outputs.second.text).toBe(`Echo: beta ${tag}`);
    expect(result.outputs.third).toBe(`Echo: alpha ${tag} / Echo: beta ${tag}`);

    // The finished step ran once; the one in flight at the kill ran again (at-least-once), finishing once.
    expect(requestsFor(`alpha ${tag}`)).toHaveLength(1);
    const beta = requestsFor(`beta ${tag}`);
    expect(beta).toHaveLength(2);
    expect(beta.filter((r) => r.finishedAt !== undefined)).toHaveLength(1);
    const steps = await db.stepRun.findMany({ where: { runId: run.id }, orderBy: { startedAt: "asc" } });
    expect(steps.map((s) => [s.stepId, s.execution, s.status])).toEqual([
      ["first", 1, "succeeded"],
      ["second", 1, "succeeded"],
      ["third", 1, "succeeded"],
    ]);
  }, 60_000);
});

describe("a run that keeps killing its process", () => {
  it("is taken over 3 times, then the 4th takeover fails it CRASH_LOOP without executing; resume forces it", async () => {
    const tag = `loop-${Date.now()}`;
    const file = path.join(dir, `${tag}.json`);
    writeFileSync(
      file,
      JSON.stringify({
        id: `crash-${tag}`,
        name: "Crash loop",
        steps: [
          { id: "first", type: "llm", config: { model: "slow-100", prompt: `alpha ${tag}` } },
          { id: "second", type: "llm", config: { model: "slow-3000", prompt: `beta ${tag}` } },
        ],
      }),
    );
    const prompt = (r: { messages: Array<{ content: string }> }) => r.messages.at(-1)?.content;
    const requestsFor = (text: string) => gateway.requests.filter((r) => prompt(r) === text);
    const killWhenInFlight = async (holder: ReturnType<typeof start>, executions: number) => {
      await until(() => requestsFor(`beta ${tag}`).length === executions, `execution ${executions} of the second step to be in flight`, 30_000);
      holder.child.kill("SIGKILL");
      await holder.exited;
    };

    await killWhenInFlight(start(["run", file, "--json"]), 1);
    const { id: runId } = await db.run.findFirstOrThrow({ where: { workflowId: `crash-${tag}` } });

    // Each takeover executes the step again, and the process holding the run dies again.
    for (let takeover = 1; takeover <= 3; takeover++) {
      await killWhenInFlight(start(["resume", runId, "--json"]), takeover + 1);
      expect(await db.run.findUniqueOrThrow({ where: { id: runId } })).toMatchObject({ status: "running", takeovers: takeover });
    }

    // The 4th takeover does not execute it.
    const fourth = start(["resume", runId, "--json"]);
    expect(await fourth.exited, fourth.output().stderr).toBe(1);
    const failed = JSON.parse(fourth.output().stdout);
    expect(failed).toMatchObject({ runId, status: "failed", error: { code: "CRASH_LOOP" }, outputs: { first: { text: `Echo: alpha ${tag}` } } });
    expect(failed.error.message).toMatch(/stopped 4 times \(it was taken over 3 times/);
    expect(failed.error.message).toContain('step "second"');
    expect(failed.error.message).toContain(`orchestrator resume ${runId}`);
    expect(requestsFor(`beta ${tag}`)).toHaveLength(4);
    expect(await db.run.findUniqueOrThrow({ where: { id: runId } })).toMatchObject({ status: "failed", takeovers: 4, leaseOwner: null });
    const steps = await db.stepRun.findMany({ where: { runId }, orderBy: { startedAt: "asc" } });
    expect(steps.map((s) => [s.stepId, s.status, s.error && JSON.parse(s.error).code])).toEqual([
      ["first", "succeeded", null],
      ["second", "failed", "CRASH_LOOP"],
    ]);
    const last = await db.runEvent.findFirstOrThrow({ where: { runId }, orderBy: { seq: "desc" } });
    expect(JSON.parse(last.payload)).toMatchObject({ type: "run.status", status: "failed", error: { code: "CRASH_LOOP" } });

    // Forced by hand, it runs the step again and finishes; the finished step is not repeated.
    const forced = start(["resume", runId, "--json"]);
    expect(await forced.exited, forced.output().stderr).toBe(0);
    expect(JSON.parse(forced.output().stdout)).toMatchObject({ runId, status: "succeeded", outputs: { second: { text: `Echo: beta ${tag}` } } });
    expect(requestsFor(`alpha ${tag}`)).toHaveLength(1);
    expect(requestsFor(`beta ${tag}`)).toHaveLength(5);
    expect(await db.run.findUniqueOrThrow({ where: { id: runId } })).toMatchObject({ status: "succeeded", takeovers: 0 });
  }, 180_000);
});
