"use server";

import { z } from "zod";
import { runAction } from "@/app/_server/action";
import * as history from "@/lib/runner/history-actions";
import { MAX_BULK_RUNS } from "@/lib/runner/history-actions";

const RunId = z.string().min(1, "run id is required").max(200, "run id: at most 200 characters");
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

const RunIds = z
  .array(RunId, { message: "runIds: a list of run ids" })
  .min(1, "runIds: select at least one run")
  .max(MAX_BULK_RUNS, `runIds: at most ${MAX_BULK_RUNS} runs at once; act on them in parts`);

/** Deletes the selected ended runs with their steps, events and checkpoints (running ones are skipped: cancel first). */
export async function deleteRuns(runIds: string[]) {
  return runAction("deleteRuns", "editor", async (context) => {
    const { db, sql, userId } = context;
    return history.deleteRuns({ db, sql }, userId, RunIds.parse(runIds));
  });
}

/** Cancels the selected runs that have not ended. */
export async function cancelRuns(runIds: string[]) {
  return runAction("cancelRuns", "editor", async (context) => {
    const { db, sql, runner, userId } = context;
    return history.cancelRuns({ db, sql, runner }, userId, RunIds.parse(runIds));
  });
}

/** Resumes the selected failed or cancelled runs from their failed steps. */
export async function resumeRuns(runIds: string[]) {
  return runAction("resumeRuns", "editor", async (context) => {
    const { db, sql, runner, userId } = context;
    return history.resumeRuns({ db, sql, runner }, userId, RunIds.parse(runIds));
  });
}

/** "Run again": a new run with the run's input, on the definition it ran or the workflow's latest version. */
export async function runAgain(runId: string, options: { useLatestVersion?: boolean } = {}) {
  return runAction("runAgain", "editor", async (context) => {
    const { db, sql, runner, userId } = context;
    const useLatestVersion = z.object({ useLatestVersion: z.boolean().optional() }).parse(options ?? {}).useLatestVersion;
    return history.runAgain({ db, sql, runner }, userId, RunId.parse(runId), { useLatestVersion });
  });
}
