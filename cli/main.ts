import { readFile } from "node:fs/promises";
import { Command, CommanderError } from "commander";
import { InvalidRunError, OrchestratorError, serializeError } from "@/lib/engine/errors";
import type { RunResult } from "@/lib/orchestrator";

/**
 * Headless CLI. Exit codes (a public contract): 0 run succeeded / command ok, 1 run failed (or did not stop
 * when cancelled), 2 invalid definition, input, run id or usage (the message names the step and field),
 * 3 the run is waiting (for an approval).
 */
const EXIT = { ok: 0, failed: 1, invalid: 2, waiting: 3 } as const;

class UsageError extends Error {}

/**
 * The engine, database and LangGraph take most of a second to load, so each command imports what it needs when
 * it runs (the prebuilt CLI turns every import() into a chunk of its own): `--help` loads commander only and
 * `validate` the pure workflow model. `runtimeLoaded` tells main() whether there is a runtime to shut down.
 */
let runtimeLoaded = false;
const load = {
  validation: () => import("@/lib/workflow/validate"),
  runtime: () => ((runtimeLoaded = true), import("@/lib/runtime")),
  orchestrator: async () => {
    await load.runtime();
    return new (await import("@/lib/orchestrator")).WorkflowOrchestrator();
  },
  checkpoints: () => import("@/lib/runner/checkpoints"),
  queries: () => import("@/lib/runner/queries"),
  repository: () => import("@/lib/workflows/repository"),
  users: () => import("@/lib/auth/users"),
  audit: () => import("@/lib/audit/query"),
  remote: () => import("./remote"),
};

/** The user commands act as: `--as <email>` or ORCHESTRATOR_USER, else the owner (the CLI runs on the server's machine). */
const actingUserOption = () => (program.opts().as as string | undefined) ?? (process.env.ORCHESTRATOR_USER || undefined);

async function actingUserId(): Promise<string> {
  const { getRuntime } = await load.runtime();
  const runtime = await getRuntime();
  const named = actingUserOption();
  return named === undefined ? runtime.userId : (await (await load.users()).findUser(runtime.db, named)).id;
}

/**
 * The server commands go to with `--server <url> --token <token>` (or env ORCHESTRATOR_SERVER /
 * ORCHESTRATOR_TOKEN), through the REST API; undefined: this machine's database (local mode).
 */
async function remoteClient() {
  const opts = program.opts() as { server?: string; token?: string; as?: string };
  const server = opts.server ?? (process.env.ORCHESTRATOR_SERVER || undefined);
  const token = opts.token ?? (process.env.ORCHESTRATOR_TOKEN || undefined);
  if (!server) {
    if (opts.token) throw new UsageError("--token goes with --server <url> (or env ORCHESTRATOR_SERVER): without a server the CLI works on this machine's database");
    return undefined;
  }
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new UsageError(`--server must be the server's URL, like http://127.0.0.1:3000, not "${server}"`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new UsageError(`--server must be an http:// or https:// URL, not "${server}"`);
  if (!token) throw new UsageError("--server needs --token <token> (or env ORCHESTRATOR_TOKEN): create one in Settings → API tokens or with `orchestrator tokens create`");
  if (opts.as) throw new UsageError("--as is for local mode: against a server the token decides who you act as");
  return new (await load.remote()).RemoteClient(url.origin + url.pathname, token);
}

/** Commands that need this machine's database refuse --server instead of quietly ignoring it. */
async function localOnly(command: string) {
  if (await remoteClient()) throw new UsageError(`\`orchestrator ${command}\` works on the server's machine only (without --server)`);
}

/** A definition file checked here first (the same issues and exit code as local mode, nothing sent). */
async function checkedDefinition(file: string, run?: { input: unknown }) {
  const { validateWorkflow } = await load.validation();
  const { definition, issues } = validateWorkflow(await readDefinition(file));
  if (!definition || issues.length) throw new InvalidRunError("INVALID_DEFINITION", issues);
  if (run) {
    const inputIssues = (await import("@/lib/workflow/input")).validateRunInput(definition, run.input).issues;
    if (inputIssues.length) throw new InvalidRunError("INVALID_INPUT", inputIssues);
  }
  return definition;
}

/** Reads a password from stdin (piped, or typed without echo at a terminal). */
async function readPassword(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write("password: ");
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    size += chunk.length;
    if (size > 4096) throw new UsageError("the password on stdin is too long (at most 256 characters)");
  }
  const password = Buffer.concat(chunks).toString("utf8").replace(/\r?\n$/, "");
  if (!password) throw new UsageError("give the password on stdin, e.g. `echo \"$PASSWORD\" | orchestrator users add ada@example.com --role editor`");
  return password;
}

const RUN_STATUSES = ["queued", "running", "waiting", "succeeded", "failed", "cancelled"];

async function readDefinition(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch {
    throw new UsageError(`cannot read workflow file "${file}"`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(`"${file}" is not valid JSON: ${(err as Error).message}`);
  }
}

function print(json: boolean, value: unknown, human: string) {
  process.stdout.write(json ? `${JSON.stringify(value)}\n` : `${human}\n`);
}

function printRunResult(json: boolean, result: RunResult) {
  const lines = [`run ${result.runId} ${result.status}`];
  for (const [stepId, output] of Object.entries(result.outputs)) lines.push(`  ${stepId}: ${JSON.stringify(output)}`);
  if (result.error) lines.push(`error ${result.error.code}${result.error.stepId ? ` in step "${result.error.stepId}"` : ""}: ${result.error.message}`);
  print(json, result, lines.join("\n"));
  process.exitCode = result.status === "succeeded" ? EXIT.ok : result.status === "waiting" ? EXIT.waiting : EXIT.failed;
}

function parseJsonOption(name: string, text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${name} is not valid JSON: ${(err as Error).message}`);
  }
}

const collect = (value: string, previous: string[]) => [...previous, value];

const RUN_JSON = "print one JSON object { runId, status, outputs, error? }";

const program = new Command()
  .name("orchestrator")
  .description("Run, validate and import LLM workflows headless (same database as the web app).")
  .option("--as <email>", "act as this user (email or id; default: env ORCHESTRATOR_USER, else the owner)")
  .option("--server <url>", "work against this server through its REST API (env ORCHESTRATOR_SERVER): run, runs, resume, approve, cancel, import")
  .option("--token <token>", "the API token for --server (env ORCHESTRATOR_TOKEN); it decides the user and role")
  .exitOverride()
  .configureOutput({ writeErr: (s) => process.stderr.write(s) });

program
  .command("run <file>")
  .description("run a workflow definition file and wait for it to end (saved as the workflow's latest version first, unless it already is)")
  .option("--input <json>", "run input as JSON", undefined)
  .option("--json", RUN_JSON)
  .action(async (file: string, opts: { input?: string; json?: boolean }) => {
    const remote = await remoteClient();
    if (remote) {
      const input = parseJsonOption("--input", opts.input);
      return printRunResult(Boolean(opts.json), await remote.run(await checkedDefinition(file, { input }), input));
    }
    const definition = await readDefinition(file);
    const input = parseJsonOption("--input", opts.input);
    // An invalid file is told before the runtime (database, LangGraph) loads: most of a second saved.
    const { validateWorkflow } = await load.validation();
    const { issues } = validateWorkflow(definition);
    if (issues.length) throw new InvalidRunError("INVALID_DEFINITION", issues);
    printRunResult(Boolean(opts.json), await (await load.orchestrator()).executeWorkflow(definition, { input, source: "cli", saveWorkflow: true, userId: actingUserOption() }));
  });

program
  .command("resume <runId>")
  .description(
    "resume a run from its last checkpoint, keeping its id: a run whose process stopped (once its lease has expired; counts as a takeover), or a failed/cancelled run from its failed step (forces a CRASH_LOOP run)",
  )
  .option("--latest", "run the rest on the workflow's latest saved version (after fixing a step)")
  .option("--checkpoint <id>", "go back to this checkpoint and re-run everything after it (see: orchestrator checkpoints)")
  .option("--json", RUN_JSON)
  .action(async (runId: string, opts: { latest?: boolean; checkpoint?: string; json?: boolean }) => {
    if (opts.latest && opts.checkpoint) throw new UsageError("--latest and --checkpoint cannot be combined");
    const remote = await remoteClient();
    if (remote) return printRunResult(Boolean(opts.json), await remote.resume(runId, { useLatestVersion: opts.latest, checkpointId: opts.checkpoint }));
    printRunResult(Boolean(opts.json), await (await load.orchestrator()).resumeRun(runId, { useLatestVersion: opts.latest, checkpointId: opts.checkpoint, userId: actingUserOption() }));
  });

program
  .command("approve <runId>")
  .description("approve (or --reject) the approval a waiting run is paused at, then wait until the run ends or waits again")
  .option("--reject", "reject instead of approving (the approval step fails with REJECTED)")
  .option("--data <json>", "the approver's input, matching the approval step's form")
  .option("--comment <text>", "a comment recorded with the decision")
  .option("--by <name>", "who decides (recorded; default the local user)")
  .option("--json", RUN_JSON)
  .action(async (runId: string, opts: { reject?: boolean; data?: string; comment?: string; by?: string; json?: boolean }) => {
    const data = parseJsonOption("--data", opts.data);
    const remote = await remoteClient();
    if (remote) {
      if (opts.by) throw new UsageError("--by is for local mode: against a server the decision is recorded as the token's user");
      return printRunResult(Boolean(opts.json), await remote.approve(runId, { approved: !opts.reject, data, comment: opts.comment }));
    }
    const result = await (await load.orchestrator()).approveRun(runId, { approved: !opts.reject, data, comment: opts.comment, decidedBy: opts.by, userId: actingUserOption() });
    printRunResult(Boolean(opts.json), result);
  });

program
  .command("checkpoints <runId>")
  .description("list a run's checkpoints, newest first (superstep, time, what changed)")
  .option("--json", "print an array of { checkpointId, parentCheckpointId, step, createdAt, source, changed, current }")
  .action(async (runId: string, opts: { json?: boolean }) => {
    await localOnly("checkpoints");
    const checkpoints = await (await load.orchestrator()).listCheckpoints(runId, { userId: actingUserOption() });
    const describe = (c: (typeof checkpoints)[number]) =>
      [c.changed.steps.length ? `steps ${c.changed.steps.join(", ")}` : "", c.changed.vars ? "vars" : "", c.changed.input ? "input" : ""].filter(Boolean).join(", ") || "-";
    print(
      Boolean(opts.json),
      checkpoints,
      checkpoints.map((c) => `${c.checkpointId}  step ${String(c.step).padStart(3)}  ${c.createdAt}  ${c.source.padEnd(6)}  ${describe(c)}${c.current ? "" : "  (earlier branch)"}`).join("\n") ||
        "no checkpoints",
    );
  });

program
  .command("fork <runId>")
  .description("start a new run from one of a run's checkpoints, optionally with edited state, and wait until it ends or waits")
  .requiredOption("--checkpoint <id>", "the checkpoint to fork from (see: orchestrator checkpoints)")
  .option("--set <path=value>", "edit the state first: steps.<id>[.field]=value, vars.<name>=value or input.<field>=value (value is JSON or text); repeatable", collect, [])
  .option("--json", RUN_JSON)
  .action(async (runId: string, opts: { checkpoint: string; set: string[]; json?: boolean }) => {
    await localOnly("fork");
    const { parseSetArgument } = await load.checkpoints();
    const set = Object.fromEntries(opts.set.map(parseSetArgument));
    printRunResult(Boolean(opts.json), await (await load.orchestrator()).forkRun(runId, { checkpointId: opts.checkpoint, set, userId: actingUserOption() }));
  });

program
  .command("validate <file>")
  .description("check a workflow definition without running it")
  .option("--json", "print { valid, issues }")
  .action(async (file: string, opts: { json?: boolean }) => {
    const { validateWorkflow, formatIssues } = await load.validation();
    const { issues } = validateWorkflow(await readDefinition(file));
    print(Boolean(opts.json), { valid: issues.length === 0, issues }, issues.length ? `invalid workflow:\n${formatIssues(issues)}` : "valid");
    process.exitCode = issues.length ? EXIT.invalid : EXIT.ok;
  });

program
  .command("import <file>")
  .description("save a definition as a workflow (or a new version of it) and print its id")
  .option("--json", "print { workflowId, version }")
  .action(async (file: string, opts: { json?: boolean }) => {
    const definition = await checkedDefinition(file);
    const remote = await remoteClient();
    if (remote) {
      const saved = await remote.import(definition);
      return print(Boolean(opts.json), saved, saved.workflowId);
    }
    const { saveWorkflowVersion } = await load.repository();
    const { db } = await (await load.runtime()).getRuntime();
    const saved = await saveWorkflowVersion(db, await actingUserId(), definition);
    print(Boolean(opts.json), saved, saved.workflowId);
  });

program
  .command("runs")
  .description("list runs, newest first, a page at a time")
  .option("--workflow <id>", "only runs of this workflow")
  .option("--status <status>", `only runs with this status (${RUN_STATUSES.join(", ")})`)
  .option("--trigger <trigger>", "only runs started this way (ui, cli, api, webhook, schedule, fork, workflow; resume: resumed by hand)")
  .option("--since <iso>", "only runs created at or after this date or date-time (e.g. 2026-12-01 or 2026-12-01T08:00:00Z)")
  .option("--search <text>", "only runs whose input, outputs or error contain this text (3 to 200 characters, any case)")
  .option("--limit <n>", "how many (1 to 500)", "50")
  .option("--cursor <cursor>", "the page after the one that printed this cursor")
  .option("--json", "print an array of { runId, workflowId, status, trigger, startedAt, finishedAt, durationMs, costUsd }; the next page's cursor goes to stderr")
  .action(async (opts: { workflow?: string; status?: string; trigger?: string; since?: string; search?: string; limit: string; cursor?: string; json?: boolean }) => {
    const { parseRunListQuery, filterToQuery } = await import("@/lib/runner/run-filter");
    const query = { workflow: opts.workflow, status: opts.status, trigger: opts.trigger, since: opts.since, search: opts.search, limit: opts.limit, cursor: opts.cursor };
    let filter: ReturnType<typeof parseRunListQuery>;
    try {
      filter = parseRunListQuery(query);
      if (filter.search !== undefined) (await import("@/lib/runner/run-search")).checkSearchText(filter.search);
    } catch (err) {
      // The filter's messages name fields as the URL does ("limit: …"): here they are flags.
      throw new UsageError((err as Error).message.replace(/(^|; )(\w+):/g, "$1--$2:"));
    }
    const remote = await remoteClient();
    const page = remote
      ? await remote.runs({ ...filterToQuery(filter), ...(filter.cursor ? { cursor: filter.cursor } : {}) })
      : await localRuns(filter);
    const rows = page.runs.map((r) => ({
      runId: r.runId,
      workflowId: r.workflowId,
      status: r.status,
      startedAt: r.startedAt,
      finishedAt: r.finishedAt,
      trigger: r.trigger,
      durationMs: r.durationMs,
      costUsd: r.costUsd,
    }));
    const lines = rows.map((r) => `${r.runId}  ${r.status.padEnd(9)}  ${r.trigger.padEnd(8)}  ${r.workflowId}  ${r.startedAt ?? "-"}`);
    if (opts.json) {
      print(true, rows, "");
      if (page.nextCursor) process.stderr.write(`next cursor: ${page.nextCursor}\n`);
    } else {
      if (page.nextCursor) lines.push(`more: --cursor ${page.nextCursor}`);
      print(false, rows, lines.join("\n") || "no runs");
    }
  });

program
  .command("cancel <runId>")
  .description("cancel a queued, running or waiting run (wherever it executes) and wait until it has stopped")
  .option("--json", "print { runId, status }")
  .action(async (runId: string, opts: { json?: boolean }) => {
    const remote = await remoteClient();
    const result = remote ? await remote.cancel(runId) : await (await load.orchestrator()).cancelRun(runId, { userId: actingUserOption() });
    print(Boolean(opts.json), result, `run ${result.runId} ${result.status}`);
    process.exitCode = ["cancelled", "succeeded", "failed"].includes(result.status) ? EXIT.ok : EXIT.failed;
  });

async function localRuns(filter: import("@/lib/runner/run-filter").RunListFilter) {
  const { listRuns } = await load.queries();
  const { db, sql } = await (await load.runtime()).getRuntime();
  const page = await listRuns({ db, sql }, await actingUserId(), filter);
  return {
    nextCursor: page.nextCursor,
    runs: page.runs.map((r) => ({ ...r, startedAt: r.startedAt?.toISOString() ?? null, finishedAt: r.finishedAt?.toISOString() ?? null })),
  };
}

const users = program.command("users").description("manage users (on the server's machine: acts as the owner)");

users
  .command("add <email>")
  .description("add a user; the password is read from stdin")
  .requiredOption("--role <role>", "admin, editor or viewer")
  .option("--name <name>", "display name (default: the part of the email before @)")
  .option("--json", "print { id, email, role }")
  .action(async (email: string, opts: { role: string; name?: string; json?: boolean }) => {
    await localOnly("users add");
    const { addUser } = await load.users();
    const { actorById } = await import("@/lib/auth/access");
    const { db, userId } = await (await load.runtime()).getRuntime();
    const password = await readPassword();
    const user = await addUser(db, await actorById(db, userId), { email, name: opts.name, password, role: opts.role as never });
    print(Boolean(opts.json), user, `added ${user.email} (${user.role})`);
  });

users
  .command("list")
  .description("list users")
  .option("--json", "print an array of { id, email, name, role, createdAt }")
  .action(async (opts: { json?: boolean }) => {
    await localOnly("users list");
    const { listUsers } = await load.users();
    const { actorById } = await import("@/lib/auth/access");
    const { db, userId } = await (await load.runtime()).getRuntime();
    const list = await listUsers(db, await actorById(db, userId));
    print(Boolean(opts.json), list, list.map((u) => `${u.id}  ${u.role.padEnd(6)}  ${u.email}`).join("\n"));
  });

const tokens = program.command("tokens").description("API tokens for the REST API and the remote CLI (`Authorization: Bearer <token>`)");

tokens
  .command("create")
  .description("create a token for a user; it is printed this once (stored hashed) and carries the user's role")
  .requiredOption("--user <email>", "the user the token acts as")
  .requiredOption("--name <name>", "what the token is for")
  .option("--json", "print { id, token }")
  .action(async (opts: { user: string; name: string; json?: boolean }) => {
    await localOnly("tokens create");
    const { createToken, findUser } = await load.users();
    const { actorById } = await import("@/lib/auth/access");
    const { db, userId } = await (await load.runtime()).getRuntime();
    const email = opts.user;
    const created = await createToken(db, await actorById(db, userId), (await findUser(db, email)).id, opts.name);
    print(Boolean(opts.json), { id: created.id, token: created.token }, `${created.token}\n(token ${created.id}: shown once; revoke with \`orchestrator tokens revoke ${created.id}\`)`);
  });

tokens
  .command("revoke <id>")
  .description("revoke a token")
  .option("--json", "print { id, revoked: true }")
  .action(async (id: string, opts: { json?: boolean }) => {
    await localOnly("tokens revoke");
    const { revokeToken } = await load.users();
    const { actorById } = await import("@/lib/auth/access");
    const { db, userId } = await (await load.runtime()).getRuntime();
    await revokeToken(db, await actorById(db, userId), id);
    print(Boolean(opts.json), { id, revoked: true }, `revoked ${id}`);
  });

const schedules = program.command("schedules").description("schedules of workflows (cron in a time zone, or every N minutes); see README, Schedules");

/** A schedule as the CLI prints it. */
const scheduleLine = (s: { id: string; name: string; enabled: boolean; description: string; upcoming: Array<{ local: string }> }) =>
  `${s.id}  ${s.enabled ? "active" : "paused"}  ${s.name}: ${s.description}${s.upcoming[0] ? `; next ${s.upcoming[0].local}` : ""}`;

async function scheduleContext() {
  const { scheduleDeps } = await import("@/lib/schedules/deps");
  const repository = await import("@/lib/schedules/repository");
  const runtime = await (await load.runtime()).getRuntime();
  return { deps: scheduleDeps(runtime), repository, userId: await actingUserId() };
}

schedules
  .command("list <workflowId>")
  .description("list a workflow's schedules with their next fire times")
  .option("--json", "print an array of schedules (with `upcoming` fire times)")
  .action(async (workflowId: string, opts: { json?: boolean }) => {
    await localOnly("schedules list");
    const { deps, repository, userId } = await scheduleContext();
    const list = await repository.listSchedules(deps, userId, workflowId);
    print(Boolean(opts.json), list, list.map(scheduleLine).join("\n") || "no schedules");
  });

schedules
  .command("add <workflowId>")
  .description("add a schedule: --cron with --tz, or --every minutes")
  .requiredOption("--name <name>", "what the schedule is for (1-100 characters)")
  .option("--cron <expression>", 'five fields, e.g. "0 9 * * 1-5", or @daily etc.')
  .option("--tz <zone>", "IANA time zone of --cron (default UTC)")
  .option("--every <minutes>", "every N minutes (1-525600), counted from midnight UTC")
  .option("--input <json>", "the runs' input (JSON, at most 64 KB)", "{}")
  .option("--missed <policy>", "fires missed while down: run_once (default) or skip")
  .option("--json", "print the schedule")
  .action(async (workflowId: string, opts: { name: string; cron?: string; tz?: string; every?: string; input: string; missed?: string; json?: boolean }) => {
    if ((opts.cron === undefined) === (opts.every === undefined)) throw new UsageError("give either --cron (with --tz) or --every <minutes>");
    if (opts.every !== undefined && !/^\d{1,7}$/.test(opts.every)) throw new UsageError("--every: a whole number of minutes from 1 to 525600");
    let input: unknown;
    try {
      input = JSON.parse(opts.input);
    } catch {
      throw new UsageError("--input: not valid JSON");
    }
    await localOnly("schedules add");
    const { deps, repository, userId } = await scheduleContext();
    const fields = {
      name: opts.name,
      ...(opts.cron !== undefined ? { kind: "cron", cron: opts.cron, ...(opts.tz ? { timezone: opts.tz } : {}) } : { kind: "interval", everyMinutes: Number(opts.every) }),
      input,
      ...(opts.missed ? { missedPolicy: opts.missed } : {}),
    };
    const schedule = await repository.createSchedule(deps, userId, workflowId, fields);
    print(Boolean(opts.json), schedule, `added ${scheduleLine(schedule)}`);
  });

for (const [name, enabled] of [["pause", false], ["resume", true]] as const)
  schedules
    .command(`${name} <scheduleId>`)
    .description(enabled ? "resume a paused schedule (fires missed while paused are not owed)" : "pause a schedule")
    .option("--json", "print the schedule")
    .action(async (scheduleId: string, opts: { json?: boolean }) => {
      await localOnly(`schedules ${name}`);
      const { deps, repository, userId } = await scheduleContext();
      const schedule = await repository.setScheduleEnabled(deps, userId, scheduleId, enabled);
      print(Boolean(opts.json), schedule, scheduleLine(schedule));
    });

schedules
  .command("delete <scheduleId>")
  .description("delete a schedule")
  .option("--json", "print { deleted }")
  .action(async (scheduleId: string, opts: { json?: boolean }) => {
    await localOnly("schedules delete");
    const { deps, repository, userId } = await scheduleContext();
    const result = await repository.deleteSchedule(deps, userId, scheduleId);
    print(Boolean(opts.json), result, `deleted ${scheduleId}`);
  });

program
  .command("audit")
  .description("list audit log entries (who changed what, when), newest first; admins see all, others what is about them or workflows they can see")
  .option("--actor <email>", "only changes made by this user (email or id)")
  .option("--action <action>", "only this action (run.cancel) or group (run)")
  .option("--target <id>", "only entries about this workflow, run, user, token or secret id")
  .option("--limit <n>", "how many (1-500)", "100")
  .option("--json", "print an array of { at, actor, action, targetType, targetId, summary }")
  .action(async (opts: { actor?: string; action?: string; target?: string; limit: string; json?: boolean }) => {
    const limit = Number(opts.limit);
    if (!/^\d+$/.test(opts.limit) || !Number.isInteger(limit) || limit < 1 || limit > 500) throw new UsageError("--limit must be a whole number from 1 to 500");
    for (const [flag, value] of [["--actor", opts.actor], ["--action", opts.action], ["--target", opts.target]] as const)
      if (value !== undefined && (!value.trim() || value.length > 200)) throw new UsageError(`${flag} needs a value of 1 to 200 characters`);
    await localOnly("audit");
    const { listAudit, auditJson } = await load.audit();
    const { db } = await (await load.runtime()).getRuntime();
    const { entries } = await listAudit(db, await actingUserId(), { actor: opts.actor, action: opts.action, targetId: opts.target, limit });
    const rows = entries.map(auditJson);
    print(
      Boolean(opts.json),
      rows,
      rows.map((r) => `${r.at}  ${r.actor}  ${r.action.padEnd(16)}  ${r.targetType} ${r.targetId}  ${r.summary}`).join("\n") || "no audit entries",
    );
  });

/** Refusals that exit 2 (the server's too, with --server): the request, not the run, was wrong. */
const INVALID_CODES = ["NOT_FOUND", "INVALID_INPUT", "INVALID_DEFINITION", "NESTING_LIMIT", "CONFLICT", "FORBIDDEN", "UNAUTHORIZED", "PAYLOAD_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE"];

/** zod's errors (bad `users add` fields), told apart without loading zod for every command. */
const isZodError = (err: unknown): err is { issues: Array<{ message: string }>; message: string } =>
  err instanceof Error && err.name === "ZodError" && Array.isArray((err as { issues?: unknown }).issues);

async function main() {
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version are not errors; everything else commander rejects is a usage error.
      process.exitCode = err.exitCode === 0 ? EXIT.ok : EXIT.invalid;
    } else if (err instanceof UsageError || err instanceof InvalidRunError || (err instanceof OrchestratorError && INVALID_CODES.includes(err.code)) || isZodError(err)) {
      const json = process.argv.includes("--json");
      const error =
        err instanceof InvalidRunError
          ? { ...serializeError(err), issues: err.issues }
          : err instanceof OrchestratorError
            ? serializeError(err)
            : isZodError(err)
              ? { code: "INVALID_INPUT", message: err.issues.map((i) => i.message).join("; ") }
              : { code: "USAGE", message: err.message };
      if (json) process.stdout.write(`${JSON.stringify({ error })}\n`);
      process.stderr.write(`error: ${error.message}\n`);
      process.exitCode = EXIT.invalid;
    } else {
      const error = err instanceof OrchestratorError ? serializeError(err) : { code: "INTERNAL", message: (err as Error)?.message ?? String(err) };
      process.stderr.write(`error: ${error.message}\n`);
      process.exitCode = EXIT.failed;
    }
  } finally {
    if (runtimeLoaded) await (await load.runtime()).shutdownRuntime();
  }
}

await main();
