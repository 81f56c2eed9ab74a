import { listRuns } from "@/lib/runner/queries";
import { ok, v1Route } from "../v1-route";

export const dynamic = "force-dynamic";

/** The same filters as `orchestrator runs`. */
export const GET = v1Route("listRuns", async ({ db, userId, query }) =>
  ok({ runs: await listRuns(db, userId, { workflowId: query.workflow, status: query.status, limit: query.limit ?? 50 }) }),
);
