import Link from "next/link";
import { pageContext } from "@/app/_server/runtime";
import { formatCost, formatDuration, StatusBadge } from "@/components/ui/status";
import { listRuns } from "@/lib/runner/queries";

export const dynamic = "force-dynamic";

export default async function RunsPage({ searchParams }: { searchParams: Promise<{ workflow?: string; status?: string }> }) {
  const { workflow, status } = await searchParams;
  const { db, userId } = await pageContext("/runs");
  const runs = await listRuns(db, userId, { workflowId: workflow, status, limit: 200 });
  return (
    <div className="mx-auto max-w-5xl p-6">
      <div className="mb-4 flex items-baseline gap-3">
        <h1 className="text-lg font-semibold">Runs</h1>
        {workflow && (
          <span className="text-sm text-neutral-500">
            of <code className="font-mono">{workflow}</code> · <Link href="/runs" className="hover:underline">all runs</Link>
          </span>
        )}
      </div>
      {runs.length === 0 ? (
        <p className="rounded border border-dashed border-neutral-300 bg-white p-8 text-center text-sm text-neutral-500">No runs yet.</p>
      ) : (
        <table className="w-full rounded border border-neutral-200 bg-white text-sm" data-testid="runs-table">
          <thead className="bg-neutral-50 text-left text-xs text-neutral-500">
            <tr>
              <th className="px-3 py-2 font-medium">Status</th>
              <th className="px-3 py-2 font-medium">Workflow</th>
              <th className="px-3 py-2 font-medium">Started</th>
              <th className="px-3 py-2 font-medium">Duration</th>
              <th className="px-3 py-2 font-medium">Cost</th>
              <th className="px-3 py-2 font-medium">Source</th>
              <th className="px-3 py-2 font-medium">Run</th>
            </tr>
          </thead>
          <tbody>
            {runs.map((run) => (
              <tr key={run.runId} className="border-t border-neutral-100" data-testid={`run-row-${run.runId}`}>
                <td className="px-3 py-2"><StatusBadge status={run.status} /></td>
                <td className="px-3 py-2">
                  <Link href={`/runs/${run.runId}`} className="font-medium hover:underline">{run.workflowName}</Link>
                  {run.workflowVersion && <span className="ml-1 text-xs text-neutral-500">v{run.workflowVersion}</span>}
                  {run.forkOf && (
                    <span data-testid="run-fork-mark" className="ml-2 rounded bg-violet-50 px-1.5 py-0.5 text-[11px] text-violet-700">
                      fork of <Link href={`/runs/${run.forkOf}`} className="font-mono hover:underline">{run.forkOf}</Link>
                    </span>
                  )}
                  {run.resumed && <span data-testid="run-resumed-mark" className="ml-2 rounded bg-amber-50 px-1.5 py-0.5 text-[11px] text-amber-700">resumed</span>}
                </td>
                <td className="px-3 py-2 text-neutral-600">{(run.startedAt ?? run.createdAt).toLocaleString()}</td>
                <td className="px-3 py-2 text-neutral-600">{formatDuration(run.durationMs)}</td>
                <td className="px-3 py-2 text-neutral-600">{formatCost(run.costUsd)}</td>
                <td className="px-3 py-2 text-neutral-500">{run.source}</td>
                <td className="px-3 py-2 font-mono text-xs">
                  <Link href={`/runs/${run.runId}`} className="text-blue-700 hover:underline">{run.runId}</Link>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
