import { afterStart } from "../../../run-answers";
import { v1Route } from "../../../v1-route";

export const dynamic = "force-dynamic";

/** Decides the approval the run waits at, recorded with the token's user as the one who decided. */
export const POST = v1Route("approveRun", async (context) => {
  const { runner, userId, actor, params, body } = context;
  await runner.decideApproval(params.runId, userId, { approved: body.approved ?? true, data: body.data, comment: body.comment, decidedBy: actor.name || actor.email });
  return afterStart(context, params.runId);
});
