"use server";

import { z } from "zod";
import { runAction } from "@/app/_server/action";
import { serverRuntime } from "@/app/_server/runtime";

/** Cancels a queued or running run; the live view then shows it ending as cancelled. */
export async function cancelRun(runId: string) {
  return runAction("cancelRun", async () => {
    const id = z.string().min(1).parse(runId);
    const { runner, userId } = await serverRuntime();
    return runner.cancelRun(id, userId);
  });
}
