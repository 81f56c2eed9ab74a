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
};

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
  .exitOverride()
  .configureOutput({ writeErr: (s) => process.stderr.write(s) });

program
  .command("run <file>")
  .description("run a workflow definition file and wait for it to end (saved as the workflow's latest version first, unless it already is)")
  .option("--input <json>", "run input as JSON", undefined)
  .option("--json", RUN_JSON)
  .action(async (file: string, opts: { input?: string; json?: boolean }) => {
    const definition = await readDefinition(file);
    const input = parseJsonOption("--input", opts.input);
    printRunResult(Boolean(opts.json), await (await load.orchestrator()).executeWorkflow(definition, { input, source: "cli", saveWorkflow: true }));
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
    printRunResult(Boolean(opts.json), await (await load.orchestrator()).resumeRun(runId, { useLatestVersion: opts.latest, checkpointId: opts.checkpoint }));
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
    const result = await (await load.orchestrator()).approveRun(runId, { approved: !opts.reject, data, comment: opts.comment, decidedBy: opts.by });
    printRunResult(Boolean(opts.json), result);
  });

program
  .command("checkpoints <runId>")
  .description("list a run's checkpoints, newest first (superstep, time, what changed)")
  .option("--json", "print an array of { checkpointId, parentCheckpointId, step, createdAt, source, changed, current }")
  .action(async (runId: string, opts: { json?: boolean }) => {
    const checkpoints = await (await load.orchestrator()).listCheckpoints(runId);
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
    const { parseSetArgument } = await load.checkpoints();
    const set = Object.fromEntries(opts.set.map(parseSetArgument));
    printRunResult(Boolean(opts.json), await (await load.orchestrator()).forkRun(runId, { checkpointId: opts.checkpoint, set }));
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
    const { validateWorkflow } = await load.validation();
    const { definition, issues } = validateWorkflow(await readDefinition(file));
    if (!definition || issues.length) throw new InvalidRunError("INVALID_DEFINITION", issues);
    const { saveWorkflowVersion } = await load.repository();
    const { db, userId } = await (await load.runtime()).getRuntime();
    const saved = await saveWorkflowVersion(db, userId, definition);
    print(Boolean(opts.json), saved, saved.workflowId);
  });

program
  .command("runs")
  .description("list runs, newest first")
  .option("--workflow <id>", "only runs of this workflow")
  .option("--status <status>", `only runs with this status (${RUN_STATUSES.join(", ")})`)
  .option("--limit <n>", "how many", "50")
  .option("--json", "print an array of { runId, workflowId, status, startedAt, finishedAt }")
  .action(async (opts: { workflow?: string; status?: string; limit: string; json?: boolean }) => {
    const limit = Number(opts.limit);
    if (!Number.isInteger(limit) || limit < 1) throw new UsageError("--limit must be a positive whole number");
    if (opts.status && !RUN_STATUSES.includes(opts.status)) throw new UsageError(`--status must be one of ${RUN_STATUSES.join(", ")}`);
    const { listRuns } = await load.queries();
    const { db, userId } = await (await load.runtime()).getRuntime();
    const runs = await listRuns(db, userId, { workflowId: opts.workflow, status: opts.status, limit });
    const rows = runs.map((r) => ({
      runId: r.runId,
      workflowId: r.workflowId,
      status: r.status,
      startedAt: r.startedAt?.toISOString() ?? null,
      finishedAt: r.finishedAt?.toISOString() ?? null,
    }));
    print(Boolean(opts.json), rows, rows.map((r) => `${r.runId}  ${r.status.padEnd(9)}  ${r.workflowId}  ${r.startedAt ?? "-"}`).join("\n") || "no runs");
  });

program
  .command("cancel <runId>")
  .description("cancel a queued, running or waiting run (wherever it executes) and wait until it has stopped")
  .option("--json", "print { runId, status }")
  .action(async (runId: string, opts: { json?: boolean }) => {
    const result = await (await load.orchestrator()).cancelRun(runId);
    print(Boolean(opts.json), result, `run ${result.runId} ${result.status}`);
    process.exitCode = ["cancelled", "succeeded", "failed"].includes(result.status) ? EXIT.ok : EXIT.failed;
  });

async function main() {
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version are not errors; everything else commander rejects is a usage error.
      process.exitCode = err.exitCode === 0 ? EXIT.ok : EXIT.invalid;
    } else if (err instanceof UsageError || err instanceof InvalidRunError || (err instanceof OrchestratorError && ["NOT_FOUND", "INVALID_INPUT", "CONFLICT"].includes(err.code))) {
      const json = process.argv.includes("--json");
      const error =
        err instanceof InvalidRunError ? { ...serializeError(err), issues: err.issues } : err instanceof OrchestratorError ? serializeError(err) : { code: "USAGE", message: err.message };
      if (json) process.stdout.write(`${JSON.stringify({ error })}\n`);
      process.stderr.write(`error: ${err.message}\n`);
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
