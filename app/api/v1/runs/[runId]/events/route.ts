import { MAX_EVENTS_LIMIT } from "@/lib/api/v1-schemas";
import { OrchestratorError } from "@/lib/engine/errors";
import { runEventsAfter } from "@/lib/runner/queries";
import { ok, v1Route } from "../../../v1-route";

export const dynamic = "force-dynamic";

/** Stored events after `?after=<seq>`, a page of at most `limit`; ask again after `lastSeq` while `more`. */
export const GET = v1Route("listRunEvents", async ({ db, userId, params, query }) => {
  const after = query.after ?? 0;
  const found = await runEventsAfter(db, userId, params.runId, after, query.limit ?? MAX_EVENTS_LIMIT);
  if (!found) throw new OrchestratorError("NOT_FOUND", `run "${params.runId}" not found`);
  return ok({ status: found.status, events: found.events, lastSeq: found.events.at(-1)?.seq ?? after, more: found.more });
});
