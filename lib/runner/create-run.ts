import { randomUUID } from "node:crypto";
import { auditStatement, runOrigin } from "@/lib/audit/record";
import type { Db } from "@/lib/db";
import type { SqlConnection, SqlStatement } from "@/lib/db/sql";
import { InvalidRunError } from "@/lib/engine/errors";
import { validateRunInput } from "@/lib/workflow/input";
import { findNonJson } from "@/lib/workflow/limits";
import type { WorkflowDefinition } from "@/lib/workflow/schema";
import { validateWorkflowInSlices } from "@/lib/workflow/validate";
import { concurrencyGroupOf } from "./concurrency";
import { lastStoredSeq, RunEventLog, type RunPublisher } from "./events";

/**
 * What started a run (`Run.trigger`, the history's filter): the editor's Run button, the CLI, the REST or TS API, a
 * webhook, a schedule (reserved), a fork, or a `workflow` step (a sub-workflow's run). A resume by hand keeps the
 * run and its trigger and counts in `resumeCount`.
 */
export const RUN_TRIGGERS = ["ui", "cli", "api", "webhook", "schedule", "fork", "workflow"] as const;
export type RunTrigger = (typeof RUN_TRIGGERS)[number];

const TRIGGER_OF_SOURCE: Record<NonNullable<StartRunOptions["source"]>, RunTrigger> = { web: "ui", cli: "cli", api: "api", webhook: "webhook", workflow: "workflow", schedule: "schedule" };

export interface StartRunOptions {
  definition: unknown;
  input?: unknown;
  ownerId: string;
  workflowVersion?: number;
  source?: "web" | "cli" | "api" | "webhook" | "workflow" | "schedule";
  /** What started it, when the source does not tell (a fork); by default derived from `source`. */
  trigger?: RunTrigger;
  /**
   * Writes committed in the same transaction as the run row (a webhook's Idempotency-Key): when one fails, the
   * run is not created and the error is thrown.
   */
  alsoStore?: (runId: string) => SqlStatement[];
  /** Details for the run's audit entry (`run.start`, or `run.fork` for a fork). */
  auditData?: Record<string, unknown>;
}

interface Deps {
  db: Db;
  sql: SqlConnection;
  publisher: RunPublisher;
}

const newRunId = () => `run_${randomUUID().replace(/-/g, "").slice(0, 20)}`;

/**
 * Definitions validated before, by their JSON text: a webhook or a schedule starts the same definition again
 * and again, and validating it costs more than a short run. Keyed by content, so an edited definition is
 * validated anew; bounded, oldest dropped first.
 */
const VALIDATED_CACHE_SIZE = 128;
const validated = new Map<string, { definition: WorkflowDefinition; json: string }>();

async function validatedDefinition(raw: unknown): Promise<{ definition: WorkflowDefinition; json: string }> {
  let key: string | undefined;
  try {
    key = JSON.stringify(raw);
  } catch {
    key = undefined; // not JSON at all (a cycle, a BigInt): the validator says what is wrong
  }
  // The text leaves out what JSON cannot carry (functions, symbols): such a value is not the definition validated.
  const hit = key === undefined ? undefined : validated.get(key);
  if (hit && !findNonJson(raw)) {
    validated.delete(key!); // most recently used last
    validated.set(key!, hit);
    return hit;
  }
  // In slices: a large definition must not hold the event loop (other runs, requests) while it is checked.
  const { definition, issues } = await validateWorkflowInSlices(raw);
  if (!definition || issues.length) throw new InvalidRunError("INVALID_DEFINITION", issues);
  const entry = { definition, json: JSON.stringify(definition) };
  if (key !== undefined) {
    validated.set(key, entry);
    if (validated.size > VALIDATED_CACHE_SIZE) validated.delete(validated.keys().next().value!);
  }
  return entry;
}

/**
 * Validates definition and input and stores a queued run (the one place runs are created): the run row and its
 * "queued" event in one transaction. Throws InvalidRunError naming the step / input field.
 */
export async function createQueuedRun(
  deps: Deps,
  options: StartRunOptions & {
    runId?: string;
    parentRunId?: string;
    parentStepId?: string;
    /** A fork: the parent's checkpoint it starts from. */
    parentCheckpointId?: string;
    leaseOwner: string | null;
    leaseExpiresAt: Date | null;
  },
): Promise<{ runId: string; lastSeq: number }> {
  const { definition, json } = await validatedDefinition(options.definition);
  const checked = validateRunInput(definition, options.input);
  if (checked.issues.length) throw new InvalidRunError("INVALID_INPUT", checked.issues);
  // A sub-workflow run executes inside its parent (no queue, no slot of its own): its workflow's limit is not applied.
  const group = options.parentStepId ? null : await concurrencyGroupOf(definition, checked.input);
  const runId = options.runId ?? newRunId();
  // A new id has no events yet; a given one (a sub-workflow's derived id) may have some from an earlier life.
  const log = new RunEventLog(deps.sql, deps.publisher, runId, options.runId ? await lastStoredSeq(deps.sql, runId) : 0);
  const now = new Date();
  log.write({
    sql: `INSERT INTO "Run" ("id", "ownerId", "workflowId", "workflowName", "workflowVersion", "definition", "input", "status", "source", "trigger",
            "parentRunId", "parentStepId", "parentCheckpointId", "leaseOwner", "leaseExpiresAt", "lastSeq", "createdAt", "concurrencyKey", "concurrencyLimit")
          VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    params: [
      runId,
      options.ownerId,
      definition.id,
      definition.name,
      options.workflowVersion ?? null,
      json,
      JSON.stringify(checked.input),
      options.source ?? "api",
      options.trigger ?? TRIGGER_OF_SOURCE[options.source ?? "api"] ?? "api",
      options.parentRunId ?? null,
      options.parentStepId ?? null,
      options.parentCheckpointId ?? null,
      options.leaseOwner,
      options.leaseExpiresAt,
      log.lastSeq + 1, // the queued event below
      now,
      group?.key ?? null,
      group?.limit ?? null,
    ],
  });
  for (const statement of options.alsoStore?.(runId) ?? []) log.write(statement);
  // The audit entry of a run someone started (not a sub-workflow's run: its parent's start covers it), in the run
  // row's transaction.
  if (!options.parentStepId) log.write(auditStatement(runStartEntry(runId, definition, options), now));
  log.emit({ type: "run.status", status: "queued" });
  await log.flush();
  return { runId, lastSeq: log.lastSeq };
}

/** Tells followers (run page, CLI) that the run is queued (again); the event log keeps its sequence. */
export async function announceQueued(deps: Deps, runId: string) {
  const log = new RunEventLog(deps.sql, deps.publisher, runId, await lastStoredSeq(deps.sql, runId));
  log.emit({ type: "run.status", status: "queued" });
  log.write({ sql: `UPDATE "Run" SET "lastSeq" = ? WHERE "id" = ?`, params: [log.lastSeq, runId] });
  await log.flush();
}

/** Who started the run, from where, and what: `data.origin` is ui, cli, api, webhook or schedule. */
function runStartEntry(runId: string, definition: WorkflowDefinition, options: StartRunOptions & { parentRunId?: string; parentCheckpointId?: string }) {
  const origin = runOrigin(options.source);
  const version = options.workflowVersion ? ` v${options.workflowVersion}` : "";
  const what = `workflow "${definition.name}"${version}`;
  const fork = options.parentCheckpointId !== undefined;
  const how =
    origin === "webhook"
      ? "by its webhook (no signed-in user: recorded as the workflow's owner)"
      : origin === "schedule"
        ? "by its schedule (no signed-in user: recorded as the schedule's owner)"
      : origin === "ui"
        ? "from the web app"
        : origin === "cli"
          ? "from the CLI"
          : "through the API";
  return {
    actorId: options.ownerId,
    action: fork ? "run.fork" : "run.start",
    targetType: "run",
    targetId: runId,
    workflowId: definition.id,
    subjectId: options.ownerId,
    summary: fork ? `Forked run ${options.parentRunId} at checkpoint ${options.parentCheckpointId} into a new run of ${what}` : `Started a run of ${what} ${how}`,
    data: {
      // A fork keeps its parent's source on the row; where the fork was asked for is not known here.
      ...(fork ? {} : { origin }),
      workflowId: definition.id,
      workflowVersion: options.workflowVersion ?? null,
      ...(fork ? { parentRunId: options.parentRunId, checkpointId: options.parentCheckpointId } : {}),
      ...options.auditData,
    },
  };
}
