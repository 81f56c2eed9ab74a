"use server";

import { z } from "zod";
import { runAction } from "@/app/_server/action";
import { serverRuntime } from "@/app/_server/runtime";
import { InvalidRunError, OrchestratorError } from "@/lib/engine/errors";
import { validateWorkflow } from "@/lib/workflow/validate";
import { getWorkflow, saveWorkflowVersion } from "@/lib/workflows/repository";

/** Validates and saves a new version; on problems nothing is saved and the issues go back to the canvas. */
export async function saveWorkflow(definition: unknown) {
  return runAction("saveWorkflow", async () => {
    const { definition: valid, issues } = validateWorkflow(definition);
    if (!valid || issues.length) throw new InvalidRunError("INVALID_DEFINITION", issues);
    const { db, userId } = await serverRuntime();
    return saveWorkflowVersion(db, userId, valid);
  });
}

const RunRequest = z.object({ workflowId: z.string().min(1), input: z.unknown().optional() });

/** Runs the latest saved version; returns the run id to follow live. */
export async function runWorkflow(workflowId: string, input?: unknown) {
  return runAction("runWorkflow", async () => {
    const request = RunRequest.parse({ workflowId, input });
    const { db, userId, runner } = await serverRuntime();
    const workflow = await getWorkflow(db, userId, request.workflowId);
    if (!workflow) throw new OrchestratorError("INVALID_DEFINITION", `workflow "${request.workflowId}" has no saved version: save it first`);
    return runner.startRun({
      definition: workflow.definition,
      input: request.input,
      ownerId: userId,
      workflowVersion: workflow.version,
      source: "web",
    });
  });
}

const RestoreRequest = z.object({ workflowId: z.string().min(1), version: z.number().int().positive() });

/** Rollback: saves an earlier version's definition as the new latest version (history is kept). */
export async function restoreVersion(workflowId: string, version: number) {
  return runAction("restoreVersion", async () => {
    const request = RestoreRequest.parse({ workflowId, version });
    const { db, userId } = await serverRuntime();
    const old = await getWorkflow(db, userId, request.workflowId, request.version);
    if (!old) throw new OrchestratorError("NOT_FOUND", `workflow "${request.workflowId}" has no version ${request.version}`);
    return saveWorkflowVersion(db, userId, old.definition);
  });
}
