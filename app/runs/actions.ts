"use server";

import { z } from "zod";
import { runAction } from "@/app/_server/action";
import { serverRuntime } from "@/app/_server/runtime";

const RunId = z.string().min(1, "run id is required");
const CheckpointId = z.string().min(1, "checkpoint id is required");

/** Cancels a queued, running or waiting run; the live view then shows it ending as cancelled. */
export async function cancelRun(runId: string) {
  return runAction("cancelRun", async () => {
    const { runner, userId } = await serverRuntime();
    return runner.cancelRun(RunId.parse(runId), userId);
  });
}

/** Resumes a failed or cancelled run from its failed step, on the version it ran or the latest saved one. */
export async function resumeRun(runId: string, options: { useLatestVersion?: boolean } = {}) {
  return runAction("resumeRun", async () => {
    const { runner, userId } = await serverRuntime();
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
  return runAction("decideApproval", async () => {
    const { runner, userId, db } = await serverRuntime();
    const parsed = Decision.parse(decision);
    const user = await db.user.findUnique({ where: { id: userId }, select: { name: true, email: true } });
    return runner.decideApproval(RunId.parse(runId), userId, { ...parsed, decidedBy: user?.name ?? user?.email ?? userId });
  });
}

/** The run's checkpoints, newest first (checkpoint browser). */
export async function runCheckpoints(runId: string) {
  return runAction("runCheckpoints", async () => {
    const { runner, userId } = await serverRuntime();
    return { checkpoints: await runner.listCheckpoints(RunId.parse(runId), userId) };
  });
}

/** The full state at one checkpoint and what would run next. */
export async function runCheckpointState(runId: string, checkpointId: string) {
  return runAction("runCheckpointState", async () => {
    const { runner, userId } = await serverRuntime();
    return { state: await runner.checkpointState(RunId.parse(runId), userId, CheckpointId.parse(checkpointId)) };
  });
}

/** "Resume from here": the run goes back to the checkpoint and re-runs what followed it. */
export async function resumeFromCheckpoint(runId: string, checkpointId: string) {
  return runAction("resumeFromCheckpoint", async () => {
    const { runner, userId } = await serverRuntime();
    return runner.resumeFromCheckpoint(RunId.parse(runId), userId, CheckpointId.parse(checkpointId));
  });
}

/** Forks the run at a checkpoint with edited state (`{ "steps.draft": {...}, "vars.n": 2 }`) into a new run. */
export async function forkRun(runId: string, checkpointId: string, set: Record<string, unknown>) {
  return runAction("forkRun", async () => {
    const { runner, userId } = await serverRuntime();
    return runner.forkRun(RunId.parse(runId), userId, { checkpointId: CheckpointId.parse(checkpointId), set: z.record(z.string(), z.unknown()).parse(set) });
  });
}
