import { pageContext } from "@/app/_server/runtime";
import { Dashboard } from "@/components/dashboard/Dashboard";
import { OrchestratorError } from "@/lib/engine/errors";
import { dashboardData, parseRange } from "@/lib/observability/dashboard";

export const dynamic = "force-dynamic";

/** The overall dashboard: every run the user can see. `?range=24h|7d|30d`. */
export default async function DashboardPage({ searchParams }: { searchParams: Promise<{ range?: string }> }) {
  const { range } = await searchParams;
  const context = await pageContext("/dashboard");
  let parsed;
  try {
    parsed = parseRange(range);
  } catch (err) {
    if (!(err instanceof OrchestratorError)) throw err;
    return <p data-testid="dashboard-error" className="p-6 text-sm text-red-600">{err.message}</p>;
  }
  const data = await dashboardData(context, context.actor, { range: parsed });
  return <Dashboard data={data} title="Dashboard" basePath="/dashboard" />;
}
