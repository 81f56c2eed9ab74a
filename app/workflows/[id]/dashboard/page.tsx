import Link from "next/link";
import { notFound } from "next/navigation";
import { pageContext } from "@/app/_server/runtime";
import { Dashboard } from "@/components/dashboard/Dashboard";
import { OrchestratorError } from "@/lib/engine/errors";
import { dashboardData, parseRange } from "@/lib/observability/dashboard";

export const dynamic = "force-dynamic";

/** One workflow's dashboard (its runs, for whoever can see the workflow). `?range=24h|7d|30d`. */
export default async function WorkflowDashboardPage({ params, searchParams }: { params: Promise<{ id: string }>; searchParams: Promise<{ range?: string }> }) {
  const { id } = await params;
  const { range } = await searchParams;
  const context = await pageContext(`/workflows/${id}/dashboard`);
  try {
    const data = await dashboardData(context, context.actor, { range: parseRange(range), workflowId: id });
    const workflow = await context.db.workflow.findUnique({ where: { id }, select: { name: true } });
    return (
      <Dashboard
        data={data}
        title={workflow?.name ?? id}
        basePath={`/workflows/${encodeURIComponent(id)}/dashboard`}
        subtitle={
          <span className="text-sm text-neutral-500">
            <code className="font-mono">{id}</code> · <Link href={`/workflows/${encodeURIComponent(id)}`} data-testid="dashboard-open-editor" className="hover:underline">editor</Link> ·{" "}
            <Link href={`/runs?workflow=${encodeURIComponent(id)}`} className="hover:underline">runs</Link> · <Link href="/dashboard" className="hover:underline">all workflows</Link>
          </span>
        }
      />
    );
  } catch (err) {
    if (err instanceof OrchestratorError && err.code === "NOT_FOUND") notFound();
    if (err instanceof OrchestratorError) return <p data-testid="dashboard-error" className="p-6 text-sm text-red-600">{err.message}</p>;
    throw err;
  }
}
