import { notFound } from "next/navigation";
import { pageContext } from "@/app/_server/runtime";
import { RunView } from "@/components/runs/RunView";
import { getRunDetail } from "@/lib/runner/queries";
import { StoredDefinitionSchema } from "@/lib/workflow/schema";

export const dynamic = "force-dynamic";

export default async function RunPage({ params }: { params: Promise<{ runId: string }> }) {
  const { runId } = await params;
  const { db, userId } = await pageContext(`/runs/${runId}`);
  const run = await getRunDetail(db, userId, runId);
  if (!run) notFound();
  const definition = StoredDefinitionSchema.parse(run.definition);
  return (
    <RunView
      key={run.runId}
      definition={definition}
      run={{
        runId: run.runId,
        workflowId: run.workflowId,
        workflowName: run.workflowName,
        workflowVersion: run.workflowVersion,
        status: run.status,
        queueReason: run.queueReason,
        source: run.source,
        startedAt: run.startedAt?.toISOString() ?? null,
        finishedAt: run.finishedAt?.toISOString() ?? null,
        durationMs: run.durationMs,
        costUsd: run.costUsd,
        totalTokens: run.totalTokens,
        forkOf: run.forkOf,
        resumed: run.resumed,
        input: run.input,
        error: run.error,
        lastSeq: run.lastSeq,
        parent: run.parent,
        forks: run.forks.map((f) => ({ runId: f.runId, status: f.status, checkpointId: f.checkpointId })),
        subRuns: run.subRuns,
        latestWorkflowVersion: run.latestWorkflowVersion,
        canControl: run.canControl,
        steps: run.steps.map((s) => ({ ...s, startedAt: s.startedAt.toISOString(), finishedAt: s.finishedAt?.toISOString() ?? null })),
      }}
    />
  );
}
