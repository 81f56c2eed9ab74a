import { OrchestratorError } from "@/lib/engine/errors";
import { getWorkflow } from "@/lib/workflows/repository";
import { afterStart } from "../../../run-answers";
import { v1Route } from "../../../v1-route";

export const dynamic = "force-dynamic";

/** Runs the latest saved version with the body as input (as the editor's Run and the webhook do). */
export const POST = v1Route("startRun", async (context) => {
  const { db, userId, runner, params, body } = context;
  const workflow = await getWorkflow(db, userId, params.id);
  if (!workflow) throw new OrchestratorError("NOT_FOUND", `workflow "${params.id}" not found`);
  if (workflow.access !== "edit") throw new OrchestratorError("FORBIDDEN", `you can view workflow "${params.id}" but not run it: ask its owner for edit access`);
  const { runId } = await runner.startRun({ definition: workflow.definition, input: body, ownerId: userId, workflowVersion: workflow.version, source: "api" });
  return afterStart(context, runId);
});
