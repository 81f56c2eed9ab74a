import { actorById, requireRole } from "@/lib/auth/access";
import { findUser } from "@/lib/auth/users";
import type { Db } from "@/lib/db";
import { InvalidRunError } from "@/lib/engine/errors";
import { getCheckpointState, listCheckpoints, type CheckpointState, type CheckpointSummary } from "@/lib/runner/checkpoints";
import type { RunResult } from "@/lib/runner/run";
import { getRuntime, shutdownRuntime } from "@/lib/runtime";
import type { ValidationIssue, WorkflowDefinition } from "@/lib/workflow/schema";
import { validateWorkflow, validateWorkflowInSlices } from "@/lib/workflow/validate";
import { validateRunInput } from "@/lib/workflow/input";
import { saveWorkflowVersionIfChanged } from "@/lib/workflows/repository";

export type { RunResult } from "@/lib/runner/run";
export type { CheckpointState, CheckpointSummary } from "@/lib/runner/checkpoints";
export { InvalidRunError } from "@/lib/engine/errors";

/**
 * The TypeScript API: runs workflows headless in this process, stored in the same database as the web app
 * (DATABASE_URL, default the SQLite file in the data directory), so they show up in the web history.
 *
 *   const result = await new WorkflowOrchestrator().executeWorkflow(definition, { userId: "local", input });
 */
export class WorkflowOrchestrator {
  validate(definition: unknown): { definition?: WorkflowDefinition; issues: ValidationIssue[] } {
    return validateWorkflow(definition);
  }

  /**
   * Runs a definition (format v1 or the simple `{ id, name, steps }` form) to its end and returns
   * `{ runId, status, outputs, error? }`. Throws InvalidRunError (code INVALID_DEFINITION / INVALID_INPUT) for
   * bad definitions or input; a failing step does not throw, it gives `status: "failed"` with `error`.
   * With `saveWorkflow` (the CLI's `run <file>`) the definition is first saved as the workflow's latest version
   * (unless it already is), and the run is linked to that version, so the web app opens the workflow it ran.
   */
  async executeWorkflow(
    definition: unknown,
    options: { userId?: string; input?: unknown; source?: "api" | "cli"; saveWorkflow?: boolean } = {},
  ): Promise<RunResult> {
    const runtime = await getRuntime();
    const actor = await actingUser(runtime, options.userId);
    requireRole(actor, "editor", "running workflows");
    const ownerId = actor.id;
    const saved = options.saveWorkflow ? await saveCheckedDefinition(runtime.db, ownerId, definition, options.input) : undefined;
    return runtime.runner.runToCompletion({
      definition: saved?.definition ?? definition,
      input: options.input,
      ownerId,
      source: options.source ?? "api",
      workflowVersion: saved?.version,
    });
  }

  /**
   * Resumes a run from its last checkpoint, in this process, and waits until it ends or waits; the run keeps
   * its id. A run whose process died is taken over once its lease expired (steps that finished are not run
   * again, steps in flight are); a failed or cancelled run re-runs its failed step and what follows, on the
   * version it ran or, with `useLatestVersion`, on the workflow's latest saved version. With `checkpointId` it
   * goes back to that checkpoint instead and re-runs everything after it ("resume from here").
   */
  async resumeRun(runId: string, options: { userId?: string; useLatestVersion?: boolean; checkpointId?: string } = {}): Promise<RunResult> {
    const runtime = await getRuntime();
    const ownerId = (await actingUser(runtime, options.userId)).id;
    if (options.checkpointId) await runtime.runner.resumeFromCheckpoint(runId, ownerId, options.checkpointId);
    else await runtime.runner.resumeRun(runId, ownerId, { useLatestVersion: options.useLatestVersion });
    return runtime.runner.waitForRun(runId);
  }

  /**
   * Decides a run's pending approval and waits until the run ends or waits again. `data` must match the
   * approval step's form (JSON Schema) when it has one. A rejection fails the step with REJECTED.
   */
  async approveRun(
    runId: string,
    decision: { approved?: boolean; data?: unknown; comment?: string; decidedBy?: string; userId?: string } = {},
  ): Promise<RunResult> {
    const runtime = await getRuntime();
    const ownerId = (await actingUser(runtime, decision.userId)).id;
    await runtime.runner.decideApproval(runId, ownerId, {
      approved: decision.approved ?? true,
      data: decision.data,
      comment: decision.comment,
      decidedBy: decision.decidedBy ?? ownerId,
    });
    return runtime.runner.waitForRun(runId);
  }

  /** A run's checkpoints, newest first: superstep, time, what changed, and whether it is on the current path. */
  async listCheckpoints(runId: string, options: { userId?: string } = {}): Promise<CheckpointSummary[]> {
    const runtime = await getRuntime();
    return listCheckpoints(runtime, (await actingUser(runtime, options.userId)).id, runId);
  }

  /** The full state (input, vars, step outputs) at one checkpoint, and the steps that would run next. */
  async getCheckpoint(runId: string, checkpointId: string, options: { userId?: string } = {}): Promise<CheckpointState> {
    const runtime = await getRuntime();
    return getCheckpointState(runtime, (await actingUser(runtime, options.userId)).id, runId, checkpointId);
  }

  /**
   * Forks a run at a checkpoint into a new run linked to its parent, with edited state
   * (`{ "steps.draft.text": "new", "vars.n": 2 }`), and waits until the fork ends or waits.
   */
  async forkRun(runId: string, options: { checkpointId: string; set?: Record<string, unknown>; userId?: string }): Promise<RunResult> {
    const runtime = await getRuntime();
    const { runId: forkId } = await runtime.runner.forkRun(runId, (await actingUser(runtime, options.userId)).id, options);
    return runtime.runner.waitForRun(forkId);
  }

  /**
   * Cancels a queued, running or waiting run, wherever it executes, and waits (up to `timeoutMs`) until it has ended.
   * In-flight LLM requests are aborted. Returns the run's status: `cancelled`, or how it ended if it was
   * already over.
   */
  async cancelRun(runId: string, options: { userId?: string; timeoutMs?: number } = {}) {
    const runtime = await getRuntime();
    await runtime.runner.cancelRun(runId, (await actingUser(runtime, options.userId)).id);
    return { runId, status: await runtime.runner.waitForEnd(runId, options.timeoutMs ?? 10_000) };
  }

  /** Waits for running work and closes the database connection. */
  close(): Promise<void> {
    return shutdownRuntime();
  }
}

/** Saves a definition to run, once it and the input are known to be valid (a refused run saves nothing). */
/** The user a call acts as: `userId` (a user's id or email; it must exist), else the owner. */
async function actingUser(runtime: { db: Db; userId: string }, userId: string | undefined) {
  return userId === undefined ? actorById(runtime.db, runtime.userId) : findUser(runtime.db, userId);
}

async function saveCheckedDefinition(db: Db, ownerId: string, raw: unknown, input: unknown) {
  const { definition, issues } = await validateWorkflowInSlices(raw);
  if (!definition || issues.length) throw new InvalidRunError("INVALID_DEFINITION", issues);
  const inputIssues = validateRunInput(definition, input).issues;
  if (inputIssues.length) throw new InvalidRunError("INVALID_INPUT", inputIssues);
  const { version } = await saveWorkflowVersionIfChanged(db, ownerId, definition);
  return { definition, version };
}
