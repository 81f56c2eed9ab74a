import { DEFAULT_WAIT_MS } from "@/lib/api/v1-schemas";
import { ok, v1Route } from "../../../v1-route";

export const dynamic = "force-dynamic";

const ENDED = ["succeeded", "failed", "cancelled"];

/** Asks for the run to stop wherever it executes; `?wait=true` answers once it has (or the time is up). */
export const POST = v1Route("cancelRun", async ({ runner, userId, params, query }) => {
  const requested = await runner.cancelRun(params.runId, userId);
  if (!query.wait || ENDED.includes(requested.status)) return ok(requested);
  return ok({ runId: params.runId, status: await runner.waitForEnd(params.runId, query.timeout ?? DEFAULT_WAIT_MS) });
});
