import { detached } from "@/lib/engine/detached";
import { InvalidRunError, StepError } from "@/lib/engine/errors";
import { sha256 } from "@/lib/secrets";
import { getWorkflow } from "@/lib/workflows/repository";
import { createQueuedRun } from "./create-run";
import { executeRun, type ExecuteDeps, type RunResult } from "./run";

/** How deep workflows may call workflows (a workflow calling itself must end somewhere). */
export const MAX_SUB_WORKFLOW_DEPTH = 5;

export interface SubWorkflowRequest {
  workflowId: string;
  /** A saved version to pin; the latest when absent. */
  version?: number;
  input?: unknown;
}

/**
 * Runs a saved workflow as a child of a step (the `workflow` step kind), inside the parent's execution: no
 * queue slot is needed, so parents waiting for children cannot starve the queue. The child's id is derived from
 * parent run, step and execution: when the parent resumes after a crash, the step finds its child again and
 * continues it from its own checkpoint instead of starting it twice.
 */
export async function runSubWorkflow(
  deps: ExecuteDeps,
  parent: { id: string; ownerId: string },
  stepId: string,
  execution: number,
  request: SubWorkflowRequest,
  signal?: AbortSignal,
): Promise<RunResult> {
  const { db } = deps;
  let depth = 0;
  for (let current: { parentRunId: string | null; parentStepId: string | null } | null = await db.run.findUnique({ where: { id: parent.id }, select: { parentRunId: true, parentStepId: true } }); current?.parentStepId && current.parentRunId; depth++) {
    if (depth >= MAX_SUB_WORKFLOW_DEPTH - 1)
      throw new StepError("SUB_WORKFLOW_DEPTH", `step "${stepId}": workflows call each other more than ${MAX_SUB_WORKFLOW_DEPTH} levels deep (a workflow calling itself?)`, { stepId });
    current = await db.run.findUnique({ where: { id: current.parentRunId }, select: { parentRunId: true, parentStepId: true } });
  }

  const childId = `run_${sha256(`${parent.id}:${stepId}:${execution}`).slice(0, 20)}`;
  const existing = await db.run.findUnique({ where: { id: childId } });
  // A finished child gives its result; a waiting one keeps waiting (its decision or callback resumes it).
  if (existing && ["succeeded", "failed", "cancelled", "waiting"].includes(existing.status))
    return { runId: childId, status: existing.status as RunResult["status"], outputs: JSON.parse(existing.outputs ?? "{}"), ...(existing.error ? { error: JSON.parse(existing.error) } : {}) };
  if (!existing) {
    const workflow = await getWorkflow(db, parent.ownerId, request.workflowId, request.version);
    if (!workflow)
      throw new StepError(
        "NOT_FOUND",
        `step "${stepId}": workflow "${request.workflowId}"${request.version ? ` version ${request.version}` : ""} is not saved (check workflowId and version)`,
        { stepId },
      );
    try {
      await createQueuedRun(deps, {
        runId: childId,
        definition: workflow.definition,
        input: request.input ?? {},
        ownerId: parent.ownerId,
        workflowVersion: workflow.version,
        source: "workflow",
        parentRunId: parent.id,
        parentStepId: stepId,
        leaseOwner: null,
        leaseExpiresAt: null,
      });
    } catch (err) {
      if (err instanceof InvalidRunError)
        throw new StepError("INVALID_INPUT", `step "${stepId}" field "input": not valid for workflow "${request.workflowId}": ${err.issues.map((i) => i.message).join("; ")}`, { stepId });
      throw err;
    }
  }
  return detached(() => executeRun(deps, childId, signal));
}
