import { InvalidRunError, OrchestratorError } from "@/lib/engine/errors";
import { validateWorkflowInSlices } from "@/lib/workflow/validate";
import { listWorkflows, saveWorkflowVersion } from "@/lib/workflows/repository";
import { created, ok, v1Route } from "../v1-route";

export const dynamic = "force-dynamic";

export const GET = v1Route("listWorkflows", async ({ db, userId }) => ok({ workflows: await listWorkflows(db, userId) }));

export const POST = v1Route("createWorkflow", async ({ db, userId, body }) => {
  // Validated in slices (the event loop is given back between them), like a save from the editor.
  const { definition, issues } = await validateWorkflowInSlices(body);
  if (!definition || issues.length) throw new InvalidRunError("INVALID_DEFINITION", issues);
  if (await db.workflow.findUnique({ where: { id: definition.id }, select: { id: true } }))
    throw new OrchestratorError(
      "CONFLICT",
      `workflow id "${definition.id}" is taken: PUT /api/v1/workflows/${definition.id} saves a new version of a workflow you can edit; choose another id for a new one`,
    );
  return created(await saveWorkflowVersion(db, userId, definition));
});
