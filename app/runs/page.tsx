import { pageContext } from "@/app/_server/runtime";
import { RunsList, type RunsListRow } from "@/components/runs/RunsList";
import { atLeast } from "@/lib/auth/roles";
import { OrchestratorError } from "@/lib/engine/errors";
import { filterToQuery, parseRunListQuery, type RunListFilter } from "@/lib/runner/run-filter";
import { listRuns, type RunPage } from "@/lib/runner/queries";

export const dynamic = "force-dynamic";

/**
 * The run history: every run the user can see, or one workflow's (`?workflow=<id>`, linked from the editor).
 * Filters, sort and the page cursor live in the URL, so a filtered list can be shared and reloaded.
 */
export default async function RunsPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const { workflowId, ...params } = await searchParams;
  const { db, sql, userId, actor } = await pageContext("/runs");
  let filter: RunListFilter = {};
  let page: RunPage = { runs: [], nextCursor: null };
  let error: string | undefined;
  try {
    filter = parseRunListQuery({ ...params, ...(workflowId && !params.workflow ? { workflow: workflowId } : {}) });
    page = await listRuns({ db, sql }, userId, filter);
  } catch (err) {
    if (!(err instanceof OrchestratorError)) throw err;
    error = err.message;
  }
  const rows: RunsListRow[] = page.runs.map((run) => ({
    runId: run.runId,
    workflowId: run.workflowId,
    workflowName: run.workflowName,
    workflowVersion: run.workflowVersion,
    status: run.status,
    trigger: run.trigger,
    createdAt: run.createdAt.toISOString(),
    startedAt: run.startedAt?.toISOString() ?? null,
    durationMs: run.durationMs,
    costUsd: run.costUsd,
    forkOf: run.forkOf,
    resumeCount: run.resumeCount,
    queueReason: run.queueReason,
  }));
  return (
    <RunsList
      rows={rows}
      query={error ? rawQuery(params, workflowId) : filterToQuery(filter)}
      nextCursor={page.nextCursor}
      paged={Boolean(filter.cursor)}
      error={error}
      canAct={atLeast(actor.role, "editor")}
    />
  );
}

/** The filter as the user typed it, kept in the form when it is refused. */
function rawQuery(params: Record<string, string | string[] | undefined>, workflowId: string | string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries({ ...params, ...(workflowId && !params.workflow ? { workflow: workflowId } : {}) })) {
    const one = Array.isArray(value) ? value[0] : value;
    if (one && key !== "cursor") out[key] = one.slice(0, 200);
  }
  return out;
}
