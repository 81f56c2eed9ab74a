import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI_BIN } from "@/e2e/fixtures/cli-process";
import { createDb, type Db } from "@/lib/db";

/**
 * `orchestrator audit`, and the audit entries of every CLI command, with the real CLI binary in child processes on
 * a real SQLite file. The commands are read from the CLI's own help (groups too), so a new command without an
 * entry below — and so without an audit entry, unless it is listed as read-only with a reason — fails here.
 */

let dir: string;
let env: NodeJS.ProcessEnv;
let db: Db;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "orchestrator-audit-cli-"));
  env = { ...process.env, DATABASE_URL: `file:${path.join(dir, "cli.db")}`, ORCHESTRATOR_DATA_DIR: dir, LOG_LEVEL: "silent", ORCHESTRATOR_USER: "" };
});
afterAll(async () => {
  await db?.$disconnect();
  rmSync(dir, { recursive: true, force: true });
});

function cli(args: string[], stdin = ""): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_BIN, ...args], { env, cwd: dir });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

async function ok(args: string[], stdin = "", codes = [0]) {
  const result = await cli(args, stdin);
  expect(codes, `orchestrator ${args.join(" ")}: ${result.stderr}`).toContain(result.code);
  return result.stdout;
}

function file(name: string, value: unknown) {
  const p = path.join(dir, name);
  writeFileSync(p, JSON.stringify(value));
  return p;
}

/** The command paths the CLI's help lists (`run`, `users add` …), groups walked into. */
async function cliCommands(prefix: string[] = []): Promise<string[]> {
  const { stdout } = await cli([...prefix, "--help"]);
  const section = stdout.split(/^Commands:$/m)[1] ?? "";
  const names = [...section.matchAll(/^ {2}([a-z][\w-]*)/gm)].map((m) => m[1]).filter((name) => name !== "help");
  const paths: string[] = [];
  for (const name of names) {
    const sub = await cliCommands([...prefix, name]);
    paths.push(...(sub.length ? sub : [[...prefix, name].join(" ")]));
  }
  return paths;
}

interface AuditJson {
  at: string;
  actor: string;
  action: string;
  targetType: string;
  targetId: string;
  summary: string;
}

const audit = async (...args: string[]) => JSON.parse(await ok(["audit", "--json", "--limit", "500", ...args])) as AuditJson[];

/** Commands that change nothing: no audit entry, by design. */
const READ_ONLY: Record<string, string> = {
  validate: "checks a file, touches no database",
  runs: "lists runs",
  checkpoints: "lists a run's checkpoints",
  audit: "reads the audit log",
  "users list": "lists users",
  "schedules list": "lists a workflow's schedules",
};

const approvalFlow = { id: "cli-approval", name: "CLI approval", steps: [{ id: "ok", type: "approval", config: { message: "ok?" } }] };
const plainFlow = {
  id: "cli-plain",
  name: "CLI plain",
  steps: [
    { id: "a", type: "transform", config: { output: "one" } },
    { id: "b", type: "transform", config: { output: "two" } },
  ],
  edges: [{ from: "a", to: "b" }],
};
/** Fails at its http step (loopback is refused by the address policy): a run to resume. */
const failingFlow = { id: "cli-failing", name: "CLI failing", steps: [{ id: "call", type: "http", config: { url: "http://127.0.0.1:9/x", method: "GET" } }] };

const runOf = async (args: string[], codes = [0, 1, 3]) => (JSON.parse(await ok([...args, "--json"], "", codes)) as { runId: string; status: string });

/**
 * Each mutating command: how to call it (given what earlier ones made) and the audit entry it must write —
 * exactly one with that action and target, new since before the call. `run <file>` also saves the definition as
 * a version when it changed: that entry is checked too.
 */
type Step = { call: (state: Record<string, string>) => Promise<{ targetId: string; also?: string[] }>; action: string };

const MUTATING: Record<string, Step> = {
  import: { action: "workflow.create", call: async () => (await ok(["import", file("plain.json", plainFlow)]), { targetId: "cli-plain" }) },
  run: {
    action: "run.start",
    call: async (state) => {
      const { runId } = await runOf(["run", file("approval.json", approvalFlow)]);
      state.waiting = runId;
      return { targetId: runId, also: ["workflow.create"] };
    },
  },
  approve: { action: "run.approve", call: async (state) => (await runOf(["approve", state.waiting]), { targetId: state.waiting }) },
  cancel: {
    action: "run.cancel",
    call: async () => {
      const { runId } = await runOf(["run", file("approval.json", approvalFlow)]);
      await ok(["cancel", runId, "--json"]);
      return { targetId: runId, also: ["run.start"] };
    },
  },
  resume: {
    action: "run.resume",
    call: async () => {
      const { runId, status } = await runOf(["run", file("failing.json", failingFlow)]);
      expect(status).toBe("failed");
      await runOf(["resume", runId]);
      return { targetId: runId, also: ["run.start", "workflow.create"] };
    },
  },
  fork: {
    action: "run.fork",
    call: async (state) => {
      const { runId } = await runOf(["run", file("plain.json", plainFlow)]);
      const checkpoints = JSON.parse(await ok(["checkpoints", runId, "--json"])) as Array<{ checkpointId: string }>;
      const fork = await runOf(["fork", runId, "--checkpoint", checkpoints.at(-2)!.checkpointId, "--set", "vars.x=1"]);
      state.fork = fork.runId;
      return { targetId: fork.runId, also: ["run.start"] };
    },
  },
  "users add": {
    action: "user.add",
    call: async (state) => {
      const user = JSON.parse(await ok(["users", "add", "eve@example.com", "--role", "editor", "--json"], "eve-password-1\n")) as { id: string };
      state.eve = user.id;
      return { targetId: user.id };
    },
  },
  "tokens create": {
    action: "token.create",
    call: async (state) => {
      const { id } = JSON.parse(await ok(["tokens", "create", "--user", "eve@example.com", "--name", "eve ci", "--json"])) as { id: string };
      state.token = id;
      return { targetId: id };
    },
  },
  "tokens revoke": { action: "token.revoke", call: async (state) => (await ok(["tokens", "revoke", state.token, "--json"]), { targetId: state.token }) },
  "schedules add": {
    action: "schedule.create",
    call: async (state) => {
      // Bad input exits 2 naming the field, and writes nothing.
      const bad = await cli(["schedules", "add", "cli-plain", "--name", "n", "--cron", "0 0 * * * *"]);
      expect(bad.code, bad.stderr).toBe(2);
      expect(bad.stderr).toMatch(/cron: .*five fields/);
      for (const args of [["--cron", "0 9 * * *", "--tz", "Mars/Base"], ["--every", "5", "--cron", "0 9 * * *"]]) {
        const refused = await cli(["schedules", "add", "cli-plain", "--name", "n", ...args]);
        expect(refused.code, `${args.join(" ")}: ${refused.stderr}`).toBe(2);
      }
      const schedule = JSON.parse(await ok(["schedules", "add", "cli-plain", "--name", "Yearly", "--cron", "0 9 1 1 *", "--tz", "Europe/Berlin", "--json"])) as { id: string; upcoming: unknown[] };
      expect(schedule.upcoming).toHaveLength(5);
      state.schedule = schedule.id;
      return { targetId: schedule.id };
    },
  },
  "schedules pause": { action: "schedule.pause", call: async (state) => (await ok(["schedules", "pause", state.schedule, "--json"]), { targetId: state.schedule }) },
  "schedules resume": { action: "schedule.resume", call: async (state) => (await ok(["schedules", "resume", state.schedule, "--json"]), { targetId: state.schedule }) },
  "schedules delete": {
    action: "schedule.delete",
    call: async (state) => {
      const missing = await cli(["schedules", "delete", "sch_nothing"]);
      expect(missing.code, missing.stderr).toBe(2);
      await ok(["schedules", "delete", state.schedule, "--json"]);
      return { targetId: state.schedule };
    },
  },
};

describe("orchestrator audit", () => {
  it("every CLI command is either listed as read-only (with a reason) or writes its audit entry", { timeout: 480_000 }, async () => {
    const commands = await cliCommands();
    expect(commands).toEqual(expect.arrayContaining(["run", "import", "users add", "tokens revoke", "audit"])); // the help was read
    expect(commands.filter((c) => !(c in MUTATING) && !(c in READ_ONLY)), "CLI commands without an entry (add its audit entry, then an entry here)").toEqual([]);
    expect([...Object.keys(MUTATING), ...Object.keys(READ_ONLY)].filter((c) => !commands.includes(c)), "entries for commands the CLI no longer has").toEqual([]);

    db = await createDb(env.DATABASE_URL!);
    const state: Record<string, string> = {};
    for (const [command, step] of Object.entries(MUTATING)) {
      const before = await db.auditLog.findMany({ select: { id: true } });
      const known = new Set(before.map((r) => r.id));
      const { targetId, also = [] } = await step.call(state);
      const added = (await db.auditLog.findMany({ orderBy: { createdAt: "asc" } })).filter((r) => !known.has(r.id));
      const mine = added.filter((r) => r.action === step.action && r.targetId === targetId);
      expect(mine, `${command}: one ${step.action} entry about ${targetId} (added: ${added.map((r) => `${r.action} ${r.targetId}`).join(", ")})`).toHaveLength(1);
      expect(mine[0].summary, `${command}: a summary`).toBeTruthy();
      // Nothing else than what the command (and the runs it starts) did.
      expect(added.map((r) => r.action).sort()).toEqual([step.action, ...also].sort());
    }
    // A fork's entry names where it came from and the state paths edited (not their values).
    const fork = await db.auditLog.findFirstOrThrow({ where: { action: "run.fork", targetId: state.fork } });
    expect(JSON.parse(fork.data!)).toMatchObject({ set: ["vars.x"] });

    // The read-only commands write nothing.
    const count = await db.auditLog.count();
    await ok(["validate", file("plain.json", plainFlow)]);
    await ok(["runs", "--json"]);
    await ok(["users", "list", "--json"]);
    await ok(["schedules", "list", "cli-plain", "--json"]);
    await ok(["audit"]);
    await ok(["checkpoints", state.fork, "--json"]);
    expect(await db.auditLog.count()).toBe(count);
  });

  it("prints entries newest first; --json as { at, actor, action, targetType, targetId, summary }; filters by actor, action, target", { timeout: 120_000 }, async () => {
    const all = await audit();
    expect(all.length).toBeGreaterThan(10);
    for (const entry of all) {
      expect(Object.keys(entry).sort()).toEqual(["action", "actor", "at", "summary", "targetId", "targetType"]);
      expect(new Date(entry.at).toISOString()).toBe(entry.at);
    }
    const times = all.map((e) => Date.parse(e.at));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    // The owner is the CLI's default user: actor by its email (the placeholder owner has one).
    expect(new Set(all.map((e) => e.actor)).size).toBeGreaterThanOrEqual(1);

    const runs = await audit("--action", "run");
    expect(runs.length).toBeGreaterThan(0);
    expect(runs.every((e) => e.action.startsWith("run."))).toBe(true);
    const cancels = await audit("--action", "run.cancel");
    expect(cancels).toHaveLength(1);
    const about = await audit("--target", cancels[0].targetId);
    expect(about.map((e) => e.action)).toEqual(["run.cancel", "run.start"]);
    const byActor = await audit("--actor", all[0].actor);
    expect(byActor.length).toBeGreaterThan(0);
    expect(byActor.every((e) => e.actor === all[0].actor)).toBe(true);
    expect(await audit("--actor", "nobody@example.com")).toEqual([]);
    expect(await audit("--limit", "2")).toEqual(all.slice(0, 2));
    // Default 100, newest first: the text form has one line per entry.
    const text = await ok(["audit"]);
    expect(text.trim().split("\n")).toHaveLength(Math.min(all.length, 100));
    expect(text.split("\n")[0]).toContain(all[0].action);

    // What another user sees: eve (an editor) sees what is about her, not the owner's workflows and runs.
    const eve = JSON.parse(await ok(["--as", "eve@example.com", "audit", "--json"])) as AuditJson[];
    expect(eve.map((e) => e.action).sort()).toEqual(["token.create", "token.revoke", "user.add"]);
  });

  it("bad flags: a message naming the flag and exit code 2 (also as JSON with --json)", { timeout: 120_000 }, async () => {
    for (const args of [
      ["audit", "--limit", "0"],
      ["audit", "--limit", "501"],
      ["audit", "--limit", "ten"],
      ["audit", "--limit", "1e3"],
      ["audit", "--action", "x".repeat(201)],
      ["audit", "--actor", ""],
      ["audit", "--bogus"],
      ["audit", "--target"],
      ["--server", "http://127.0.0.1:9", "--token", "orc_x", "audit"],
    ]) {
      const result = await cli(args);
      expect(result.code, args.join(" ")).toBe(2);
      expect(result.stderr, args.join(" ")).toMatch(/error: /);
      expect(result.stderr).not.toMatch(/\n\s+at /); // no stack trace
    }
    const json = await cli(["audit", "--json", "--limit", "0"]);
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stdout)).toEqual({ error: { code: "USAGE", message: expect.stringContaining("--limit") } });
  });
});
