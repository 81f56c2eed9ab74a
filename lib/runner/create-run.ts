import { randomUUID } from "node:crypto";
import type { Db } from "@/lib/db";
import type { SqlConnection } from "@/lib/db/sql";
import { InvalidRunError } from "@/lib/engine/errors";
import { validateRunInput } from "@/lib/workflow/input";
import { validateWorkflowInSlices } from "@/lib/workflow/validate";
import { lastStoredSeq, RunEventLog, type RunPublisher } from "./events";

export interface StartRunOptions {
  definition: unknown;
  input?: unknown;
  ownerId: string;
  workflowVersion?: number;
  source?: "web" | "cli" | "api" | "webhook" | "workflow";
}

interface Deps {
  db: Db;
  sql: SqlConnection;
  publisher: RunPublisher;
}

const newRunId = () => `run_${randomUUID().replace(/-/g, "").slice(0, 20)}`;

/**
 * Validates definition and input and stores a queued run (the one place runs are created). Throws
 * InvalidRunError naming the step / input field.
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
): Promise<{ runId: string }> {
  // In slices: a large definition must not hold the event loop (other runs, requests) while it is checked.
  const { definition, issues } = await validateWorkflowInSlices(options.definition);
  if (!definition || issues.length) throw new InvalidRunError("INVALID_DEFINITION", issues);
  const checked = validateRunInput(definition, options.input);
  if (checked.issues.length) throw new InvalidRunError("INVALID_INPUT", checked.issues);
  const runId = options.runId ?? newRunId();
  await deps.db.run.create({
    data: {
      id: runId,
      ownerId: options.ownerId,
      workflowId: definition.id,
      workflowName: definition.name,
      workflowVersion: options.workflowVersion ?? null,
      definition: JSON.stringify(definition),
      input: JSON.stringify(checked.input),
      status: "queued",
      source: options.source ?? "api",
      parentRunId: options.parentRunId ?? null,
      parentStepId: options.parentStepId ?? null,
      parentCheckpointId: options.parentCheckpointId ?? null,
      leaseOwner: options.leaseOwner,
      leaseExpiresAt: options.leaseExpiresAt,
    },
  });
  await announceQueued(deps, runId);
  return { runId };
}

/** Tells followers (run page, CLI) that the run is queued (again); the event log keeps its sequence. */
export async function announceQueued(deps: Deps, runId: string) {
  const log = new RunEventLog(deps.sql, deps.publisher, runId, await lastStoredSeq(deps.sql, runId));
  log.emit({ type: "run.status", status: "queued" });
  await log.flush();
  await deps.db.run.update({ where: { id: runId }, data: { lastSeq: log.lastSeq } });
}
