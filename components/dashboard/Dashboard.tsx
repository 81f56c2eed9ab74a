import Link from "next/link";
import { formatCost, formatDuration } from "@/components/ui/status";
import { RANGES, STEP_SAMPLE_RUNS, type DashboardData, type StepFigure } from "@/lib/observability/dashboard";
import { DashboardCharts } from "./DashboardCharts";

/** A dashboard page's body: range selector, summary figures, charts and the step tables. */
export function Dashboard({ data, title, basePath, subtitle }: { data: DashboardData; title: string; basePath: string; subtitle?: React.ReactNode }) {
  const { summary } = data;
  return (
    <div className="mx-auto max-w-6xl space-y-4 p-6" data-testid="dashboard" data-range={data.range}>
      <div className="flex flex-wrap items-baseline gap-3">
        <h1 className="text-lg font-semibold">{title}</h1>
        {subtitle}
        <nav className="ml-auto flex overflow-hidden rounded border border-neutral-300 text-xs" aria-label="Time range">
          {Object.keys(RANGES).map((range) => (
            <Link
              key={range}
              href={`${basePath}?range=${range}`}
              data-testid={`range-${range}`}
              aria-current={range === data.range ? "page" : undefined}
              className={`px-3 py-1 ${range === data.range ? "bg-neutral-900 text-white" : "bg-white text-neutral-700 hover:bg-neutral-50"}`}
            >
              {range}
            </Link>
          ))}
        </nav>
      </div>
      <dl className="grid grid-cols-2 gap-3 sm:grid-cols-3 lg:grid-cols-6">
        <Figure label="Runs" value={String(summary.runs)} testId="summary-runs" />
        <Figure label="Success rate" value={summary.successRate === null ? "—" : `${(summary.successRate * 100).toFixed(1)}%`} testId="summary-success-rate" />
        <Figure label="p50 duration" value={formatDuration(summary.p50Ms)} testId="summary-p50" />
        <Figure label="p95 duration" value={formatDuration(summary.p95Ms)} testId="summary-p95" />
        <Figure label="Tokens" value={summary.tokens.toLocaleString("en-US")} testId="summary-tokens" />
        <Figure label="Cost" value={summary.costUsd ? formatCost(summary.costUsd) : "—"} testId="summary-cost" />
      </dl>
      {summary.runs === 0 ? (
        <p data-testid="dashboard-empty" className="rounded border border-dashed border-neutral-300 bg-white p-8 text-center text-sm text-neutral-500">
          No runs in the last {data.range}.
        </p>
      ) : (
        <DashboardCharts series={data.series} bucket={data.bucket} />
      )}
      <div className="grid gap-4 lg:grid-cols-2">
        <StepTable title="Slowest steps (average duration)" steps={data.slowestSteps} testId="slowest-steps" showWorkflow={data.workflowId === null} />
        <StepTable title="Most expensive steps" steps={data.costliestSteps} testId="costliest-steps" showWorkflow={data.workflowId === null} />
      </div>
      {data.stepsSampled && <p className="text-xs text-neutral-500">Step tables: the latest {STEP_SAMPLE_RUNS.toLocaleString("en-US")} runs of the range.</p>}
    </div>
  );
}

function Figure({ label, value, testId }: { label: string; value: string; testId: string }) {
  return (
    <div className="rounded border border-neutral-200 bg-white px-3 py-2">
      <dt className="text-[11px] uppercase tracking-wide text-neutral-500">{label}</dt>
      <dd data-testid={testId} className="text-lg font-semibold tabular-nums">{value}</dd>
    </div>
  );
}

function StepTable({ title, steps, testId, showWorkflow }: { title: string; steps: StepFigure[]; testId: string; showWorkflow: boolean }) {
  return (
    <section className="rounded border border-neutral-200 bg-white" data-testid={testId}>
      <h2 className="border-b border-neutral-100 px-3 py-2 text-xs font-medium uppercase tracking-wide text-neutral-500">{title}</h2>
      {steps.length === 0 ? (
        <p className="px-3 py-4 text-sm text-neutral-500">No step executions.</p>
      ) : (
        <table className="w-full text-sm">
          <thead className="text-left text-xs text-neutral-500">
            <tr>
              {showWorkflow && <th className="px-3 py-1.5 font-medium">Workflow</th>}
              <th className="px-3 py-1.5 font-medium">Step</th>
              <th className="px-3 py-1.5 text-right font-medium">Runs</th>
              <th className="px-3 py-1.5 text-right font-medium">Avg</th>
              <th className="px-3 py-1.5 text-right font-medium">Max</th>
              <th className="px-3 py-1.5 text-right font-medium">Tokens</th>
              <th className="px-3 py-1.5 text-right font-medium">Cost</th>
            </tr>
          </thead>
          <tbody>
            {steps.map((step) => (
              <tr key={`${step.workflowId}/${step.stepId}`} className="border-t border-neutral-100" data-testid={`${testId}-row`} data-step={step.stepId}>
                {showWorkflow && (
                  <td className="px-3 py-1.5">
                    <Link href={`/workflows/${encodeURIComponent(step.workflowId)}/dashboard`} className="font-mono text-xs hover:underline">{step.workflowId}</Link>
                  </td>
                )}
                <td className="px-3 py-1.5">
                  <span className="font-mono text-xs">{step.stepId}</span> <span className="text-[11px] text-neutral-500">{step.stepType}</span>
                </td>
                <td className="px-3 py-1.5 text-right tabular-nums">{step.executions}</td>
                <td className="px-3 py-1.5 text-right tabular-nums">{formatDuration(step.avgMs)}</td>
                <td className="px-3 py-1.5 text-right tabular-nums">{formatDuration(step.maxMs)}</td>
                <td className="px-3 py-1.5 text-right tabular-nums">{step.tokens.toLocaleString("en-US")}</td>
                <td className="px-3 py-1.5 text-right tabular-nums">{step.costUsd ? formatCost(step.costUsd) : "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
