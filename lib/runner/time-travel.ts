import { recordAudit } from "@/lib/audit/record";
import { SCHEDULER_NODE } from "@/lib/engine/compile";
import { OrchestratorError } from "@/lib/engine/errors";
import type { RunStatus } from "@/lib/runner/event-types";
import { outsideValueIssue } from "@/lib/workflow/limits";
import { forkCommand, ownedRun, readCheckpoint, resumeCommand, stateEdits } from "./checkpoints";
import { createQueuedRun, type StartRunOptions } from "./create-run";
import { resumedByHand, type RunControl } from "./control";

/**
 * Time travel: going back to a checkpoint of a run ("resume from here") and forking a new run from one with
 * edited state. Both end by handing the run to the runner's queue (RunControl).
 */

const ACTIVE: RunStatus[] = ["queued", "running"];

/**
 * Time travel, "resume from here": the run goes on from one of its checkpoints, re-running every step that
 * followed it (LangGraph forks the thread at that checkpoint; the run keeps its id). Step records made after
 * that point are dropped, so the run page shows the new course.
 */
export async function resumeFromCheckpoint(control: RunControl, runId: string, ownerId: string, checkpointId: string): Promise<{ runId: string }> {
  const run = await ownedRun(control.deps.db, ownerId, runId);
  if (ACTIVE.includes(run.status as RunStatus))
    throw new OrchestratorError("CONFLICT", `run "${runId}" is still ${run.status}; cancel it or wait for it to end before going back to a checkpoint`);
  const read = await readCheckpoint(run, control.deps.checkpointer, checkpointId);
  const { compiled, state } = read;
  if (!state.next.length) throw new OrchestratorError("INVALID_INPUT", `nothing follows checkpoint "${checkpointId}": the run had ended there; pick an earlier checkpoint`);
  await compiled.graph.updateState({ configurable: { thread_id: runId, checkpoint_id: checkpointId } }, resumeCommand(read), SCHEDULER_NODE);
  await forgetStepsAfter(control, runId, compiled.spec.stepIds, state.executions);
  await control.requeue(runId, ["succeeded", "failed", "cancelled", "waiting"], resumedByHand());
  await recordAudit(control.deps.db, {
    actorId: ownerId,
    action: "run.rewind",
    targetType: "run",
    targetId: runId,
    summary: `Resumed run ${runId} from checkpoint ${checkpointId} (was ${run.status}; what followed it runs again)`,
    data: { checkpointId, from: run.status },
  });
  control.schedule(runId);
  return { runId };
}

/**
 * Time travel, "fork": a new run, linked to its parent, that starts from one of the parent's checkpoints with
 * edited state (`steps.<id>...`, `vars.<name>...`, `input...` = value, applied with LangGraph `updateState`)
 * and runs what follows. The parent stays as it was; the fork inherits the records of the steps before, marked
 * inherited: the fork's tokens and cost are those of the calls it makes itself.
 */
export async function forkRun(control: RunControl, runId: string, ownerId: string, options: { checkpointId: string; set?: Record<string, unknown> }): Promise<{ runId: string }> {
  const { db, checkpointer } = control.deps;
  // Edited values go into the checkpoint, whose serializer recurses per level: bounded before anything else.
  for (const [path, value] of Object.entries(options.set ?? {})) {
    const refused = outsideValueIssue(value, path);
    if (refused) throw new OrchestratorError("INVALID_INPUT", `--set ${refused.message}`);
  }
  const parent = await ownedRun(db, ownerId, runId);
  const read = await readCheckpoint(parent, checkpointer, options.checkpointId);
  const { compiled, state } = read;
  const edits = stateEdits(state, compiled.spec.stepIds, options.set ?? {});

  // Created like every run: the definition and an edited input are checked again.
  const { runId: forkId } = await createQueuedRun(control.deps, {
    definition: JSON.parse(parent.definition),
    input: edits.input ?? state.values.input,
    ownerId,
    workflowVersion: parent.workflowVersion ?? undefined,
    source: parent.source as StartRunOptions["source"],
    trigger: "fork",
    parentRunId: runId,
    parentCheckpointId: options.checkpointId,
    leaseOwner: control.processId,
    leaseExpiresAt: control.leaseUntil(),
    // The paths edited, not their values (they may be large).
    auditData: { set: Object.keys(options.set ?? {}).slice(0, 50) },
  });
  // The fork's thread starts with one checkpoint: the parent's state at that point with the edits on top of it
  // (the outputs as one snapshot), and what followed that point to run next.
  await compiled.graph.updateState({ configurable: { thread_id: forkId } }, forkCommand(read, edits), SCHEDULER_NODE);

  const inherited = await db.stepRun.findMany({ where: { runId }, orderBy: { startedAt: "asc" } });
  const kept = inherited.filter((row) => row.execution <= (state.executions[row.stepId] ?? 0));
  if (kept.length)
    await db.stepRun.createMany({
      data: kept.map(({ id: _id, runId: _run, ...row }) => ({
        ...row,
        runId: forkId,
        // Shown on the fork's page, counted where the call was made (the parent, or the run it inherited it from).
        inheritedFromRunId: row.inheritedFromRunId ?? runId,
        ...(row.stepId in edits.changedSteps && row.execution === state.executions[row.stepId] ? { output: JSON.stringify(edits.changedSteps[row.stepId]) } : {}),
      })),
    });
  control.schedule(forkId);
  return { runId: forkId };
}

/** Drops step records made after a checkpoint (executions beyond the ones it had seen). */
async function forgetStepsAfter(control: RunControl, runId: string, stepIds: string[], executions: Record<string, number>) {
  const { db } = control.deps;
  await db.stepRun.deleteMany({ where: { runId, OR: stepIds.map((stepId) => ({ stepId, execution: { gt: executions[stepId] ?? 0 } })) } });
}
