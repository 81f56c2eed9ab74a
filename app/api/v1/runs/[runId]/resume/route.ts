import { InvalidRunError } from "@/lib/engine/errors";
import { afterStart } from "../../../run-answers";
import { v1Route } from "../../../v1-route";

export const dynamic = "force-dynamic";

/** From the failed step (or the last checkpoint of a stopped run), or back at `checkpointId`. */
export const POST = v1Route("resumeRun", async (context) => {
  const { runner, userId, params, body } = context;
  if (body.checkpointId && body.useLatestVersion)
    throw new InvalidRunError("INVALID_INPUT", [
      { code: "INVALID_REQUEST", field: "body.checkpointId", message: "body.checkpointId: cannot be combined with useLatestVersion (a checkpoint resumes on the version the run ran)" },
    ], "the request body");
  if (body.checkpointId) await runner.resumeFromCheckpoint(params.runId, userId, body.checkpointId);
  else await runner.resumeRun(params.runId, userId, { useLatestVersion: body.useLatestVersion });
  return afterStart(context, params.runId);
});
