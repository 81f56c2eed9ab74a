import { requireWorkflowAccess } from "@/lib/auth/access";
import { InvalidRunError, OrchestratorError } from "@/lib/engine/errors";
import { validateWorkflowInSlices } from "@/lib/workflow/validate";
import { deleteWorkflow, getWorkflow, saveWorkflowVersion } from "@/lib/workflows/repository";
import { ok, v1Route } from "../../v1-route";

export const dynamic = "force-dynamic";

export const GET = v1Route("getWorkflow", async ({ db, userId, params, query }) => {
  const workflow = await getWorkflow(db, userId, params.id, query.version);
  if (!workflow)
    throw new OrchestratorError("NOT_FOUND", query.version ? `workflow "${params.id}" has no version ${query.version} (or is not one you can see)` : `workflow "${params.id}" not found`);
  return ok(workflow);
});

export const PUT = v1Route("updateWorkflow", async ({ db, userId, actor, params, body }) => {
  // Existing and editable first: a workflow that is not yours answers 404 whatever the body.
  await requireWorkflowAccess(db, actor, params.id, "edit");
  const { definition, issues } = await validateWorkflowInSlices(body);
  if (!definition || issues.length) throw new InvalidRunError("INVALID_DEFINITION", issues);
  if (definition.id !== params.id)
    throw new InvalidRunError("INVALID_INPUT", [
      { code: "INVALID_REQUEST", field: "body.id", message: `body.id: the definition's id "${definition.id}" is not the path's "${params.id}"; POST /api/v1/workflows creates a workflow under a new id` },
    ], "the request body");
  return ok(await saveWorkflowVersion(db, userId, definition));
});

export const DELETE = v1Route("deleteWorkflow", async ({ db, userId, params }) => {
  await deleteWorkflow(db, userId, params.id);
  return ok({ workflowId: params.id, deleted: true });
});
