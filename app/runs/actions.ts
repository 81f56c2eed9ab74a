"use server";

import { z } from "zod";
import { runAction } from "@/app/_server/action";

const RunId = z.string().min(1, "run id is required");
const CheckpointId = z.string().min(1, "checkpoint id is required");

/** Cancels a queued, running or waiting run; the live view then shows it ending as cancelled. */
export async function cancelRun(runId: string) {
  return runAction("cancelRun", "editor", async (context) => {
    const { runner, userId } = context;
    return runner.cancelRun(RunId.parse(runId), userId);
  });
}

/** Resumes a failed or cancelled run from its failed step, on the version it ran or the latest saved one. */
export async function resumeRun(runId: string, options: { useLatestVersion?: boolean } = {}) {
  return runAction("resumeRun", "editor", async (context) => {
    const { runner, userId } = context;
    return runner.resumeRun(RunId.parse(runId), userId, { useLatestVersion: z.boolean().optional().parse(options.useLatestVersion) });
  });
}

const Decision = z.object({
  approved: z.boolean(),
  data: z.unknown().optional(),
  comment: z.string().max(2000, "comment: keep it under 2000 characters").optional(),
});

/** Approves or rejects the approval a run waits at; recorded with the deciding user and the time. */
export async function decideApproval(runId: string, decision: z.input<typeof Decision>) {
  return runAction("decideApproval", "editor", async (context) => {
    const { runner, userId, actor } = context;
    const parsed = Decision.parse(decision);
    return runner.decideApproval(RunId.parse(runId), userId, { ...parsed, decidedBy: actor.name || actor.email });
  });
}

/** The run's checkpoints, newest first (checkpoint browser). */
export async function runCheckpoints(runId: string) {
  return runAction("runCheckpoints", "viewer", async (context) => {
    const { runner, userId } = context;
    return { checkpoints: await runner.listCheckpoints(RunId.parse(runId), userId) };
  });
}

/** The full state at one checkpoint and what would run next. */
export async function runCheckpointState(runId: string, checkpointId: string) {
  return runAction("runCheckpointState", "viewer", async (context) => {
    const { runner, userId } = context;
    return { state: await runner.checkpointState(RunId.parse(runId), userId, CheckpointId.parse(checkpointId)) };
  });
}

/** "Resume from here": the run goes back to the checkpoint and re-runs what followed it. */
export async function resumeFromCheckpoint(runId: string, checkpointId: string) {
  return runAction("resumeFromCheckpoint", "editor", async (context) => {
    const { runner, userId } = context;
    return runner.resumeFromCheckpoint(RunId.parse(runId), userId, CheckpointId.parse(checkpointId));
  });
}

/** Forks the run at a checkpoint with edited state (`{ "steps.draft": {...}, "vars.n": 2 }`) into a new run. */
export async function forkRun(runId: string, checkpointId: string, set: Record<string, unknown>) {
  return runAction("forkRun", "editor", async (context) => {
    const { runner, userId } = context;
    return runner.forkRun(RunId.parse(runId), userId, { checkpointId: CheckpointId.parse(checkpointId), set: z.record(z.string(), z.unknown()).parse(set) });
  });
}
