"use server";

import { z } from "zod";
import { runAction } from "@/app/_server/action";
import { loadRunTimeline } from "@/lib/runner/timeline-query";

const RunId = z.string().min(1, "run id is required").max(200, "run id: at most 200 characters");

/**
 * The run's timeline (one bar per step execution, from its event log), loaded by the run page after it opened,
 * and for a sub-workflow run when its step is expanded.
 */
export async function runTimeline(runId: string) {
  return runAction("runTimeline", "viewer", async (context) => {
    const { db, userId } = context;
    return { timeline: await loadRunTimeline(db, userId, RunId.parse(runId)) };
  });
}
