import { OrchestratorError } from "@/lib/engine/errors";
import { getRunDetail } from "@/lib/runner/queries";
import { ok, v1Route } from "../../v1-route";

export const dynamic = "force-dynamic";

export const GET = v1Route("getRun", async ({ db, userId, params }) => {
  const run = await getRunDetail(db, userId, params.runId);
  if (!run) throw new OrchestratorError("NOT_FOUND", `run "${params.runId}" not found`);
  return ok(run);
});
