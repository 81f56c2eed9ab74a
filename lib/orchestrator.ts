import type { RunResult } from "@/lib/runner/run";
import { getRuntime, shutdownRuntime } from "@/lib/runtime";
import type { ValidationIssue, WorkflowDefinition } from "@/lib/workflow/schema";
import { validateWorkflow } from "@/lib/workflow/validate";

export type { RunResult } from "@/lib/runner/run";
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
   */
  async executeWorkflow(
    definition: unknown,
    options: { userId?: string; input?: unknown; source?: "api" | "cli" } = {},
  ): Promise<RunResult> {
    const runtime = await getRuntime();
    const ownerId = options.userId ?? runtime.userId;
    if (ownerId !== runtime.userId)
      await runtime.db.user.upsert({ where: { id: ownerId }, create: { id: ownerId, email: `${ownerId}@localhost`, name: ownerId }, update: {} });
    return runtime.runner.runToCompletion({ definition, input: options.input, ownerId, source: options.source ?? "api" });
  }

  /**
   * Resumes a run whose process died (after its lease expired) from its last checkpoint, in this process, and
   * waits for it to end. Steps that finished before the crash are not run again; steps that were in flight are.
   */
  async resumeRun(runId: string, options: { userId?: string } = {}): Promise<RunResult> {
    const runtime = await getRuntime();
    await runtime.runner.resumeRun(runId, options.userId ?? runtime.userId);
    return runtime.runner.waitForRun(runId);
  }

  /**
   * Cancels a queued or running run, wherever it executes, and waits (up to `timeoutMs`) until it has ended.
   * In-flight LLM requests are aborted. Returns the run's status: `cancelled`, or how it ended if it was
   * already over.
   */
  async cancelRun(runId: string, options: { userId?: string; timeoutMs?: number } = {}) {
    const runtime = await getRuntime();
    await runtime.runner.cancelRun(runId, options.userId ?? runtime.userId);
    return { runId, status: await runtime.runner.waitForEnd(runId, options.timeoutMs ?? 10_000) };
  }

  /** Waits for running work and closes the database connection. */
  close(): Promise<void> {
    return shutdownRuntime();
  }
}
