import Link from "next/link";
import { pageContext } from "@/app/_server/runtime";
import { atLeast } from "@/lib/auth/roles";
import { listWorkflows } from "@/lib/workflows/repository";

export const dynamic = "force-dynamic";

export default async function WorkflowsPage() {
  const { db, userId, actor } = await pageContext("/");
  const workflows = await listWorkflows(db, userId);
  const canCreate = atLeast(actor.role, "editor");
  return (
    <div className="mx-auto max-w-4xl p-6">
      <div className="mb-4 flex items-center justify-between">
        <h1 className="text-lg font-semibold">Workflows</h1>
        {canCreate && (
          <Link href="/workflows/new" data-testid="new-workflow" className="rounded bg-neutral-900 px-3 py-1.5 text-sm font-medium text-white hover:bg-neutral-700">
            New workflow
          </Link>
        )}
      </div>
      {workflows.length === 0 ? (
        <p data-testid="no-workflows" className="rounded border border-dashed border-neutral-300 bg-white p-8 text-center text-sm text-neutral-500">
          {canCreate ? (
            <>
              No workflows yet. Create one, or import a file with <code className="font-mono">npx orchestrator import wf.json</code>.
            </>
          ) : (
            "No workflows are shared with you yet: ask a workflow's owner to share it."
          )}
        </p>
      ) : (
        <table className="w-full overflow-hidden rounded border border-neutral-200 bg-white text-sm">
          <thead className="bg-neutral-50 text-left text-xs text-neutral-500">
            <tr>
              <th className="px-3 py-2 font-medium">Name</th>
              <th className="px-3 py-2 font-medium">Id</th>
              <th className="px-3 py-2 font-medium">Owner</th>
              <th className="px-3 py-2 font-medium">Version</th>
              <th className="px-3 py-2 font-medium">Updated</th>
              <th className="px-3 py-2" />
            </tr>
          </thead>
          <tbody>
            {workflows.map((w) => (
              <tr key={w.id} className="border-t border-neutral-100" data-testid={`workflow-row-${w.id}`}>
                <td className="px-3 py-2">
                  <Link href={`/workflows/${w.id}`} className="font-medium hover:underline">{w.name}</Link>
                </td>
                <td className="px-3 py-2 font-mono text-xs text-neutral-500">{w.id}</td>
                <td className="px-3 py-2 text-neutral-600" data-testid={`workflow-owner-${w.id}`}>
                  {w.mine ? <span className="text-neutral-400">you</span> : <span>{w.ownerName}</span>}
                </td>
                <td className="px-3 py-2">v{w.latestVersion}</td>
                <td className="px-3 py-2 text-neutral-500">{w.updatedAt.toLocaleString()}</td>
                <td className="px-3 py-2 text-right">
                  <Link href={`/runs?workflow=${encodeURIComponent(w.id)}`} className="text-xs text-neutral-500 hover:underline">runs</Link>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
