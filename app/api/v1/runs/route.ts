import { fromQuery } from "@/lib/runner/run-filter";
import { listRuns } from "@/lib/runner/queries";
import { ok, v1Route } from "../v1-route";

export const dynamic = "force-dynamic";

/** The same filters as `orchestrator runs` and the /runs page, one page at a time. */
export const GET = v1Route("listRuns", async ({ db, sql, userId, query }) => ok(await listRuns({ db, sql }, userId, fromQuery(query))));
