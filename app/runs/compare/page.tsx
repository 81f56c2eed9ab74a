import { notFound } from "next/navigation";
import { pageContext } from "@/app/_server/runtime";
import { CompareView, type ComparedRun } from "@/components/runs/CompareView";
import { getRunDetail, type RunDetail } from "@/lib/runner/queries";

export const dynamic = "force-dynamic";

const runId = (value: string | string[] | undefined) => (typeof value === "string" && value.length > 0 && value.length <= 200 ? value : null);

/** Two runs side by side (`?a=<runId>&b=<runId>`, from two runs selected in the history): inputs, each step's output and duration. */
export default async function ComparePage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const params = await searchParams;
  const a = runId(params.a);
  const b = runId(params.b);
  const { db, userId } = await pageContext(`/runs/compare?a=${encodeURIComponent(a ?? "")}&b=${encodeURIComponent(b ?? "")}`);
  if (!a || !b) notFound();
  const [left, right] = await Promise.all([getRunDetail(db, userId, a), getRunDetail(db, userId, b)]);
  // Either run not visible: the same answer as a run that does not exist.
  if (!left || !right) notFound();
  return <CompareView a={compared(left)} b={compared(right)} />;
}

/** What the comparison shows of a run: the latest execution of each step, in the order they first started. */
function compared(run: RunDetail): ComparedRun {
  const steps = new Map<string, ComparedRun["steps"][number]>();
  for (const step of run.steps)
    steps.set(step.stepId, { stepId: step.stepId, stepType: step.stepType, status: step.status, execution: step.execution, output: step.output, error: step.error, durationMs: step.durationMs });
  return {
    runId: run.runId,
    workflowId: run.workflowId,
    workflowName: run.workflowName,
    workflowVersion: run.workflowVersion,
    status: run.status,
    durationMs: run.durationMs,
    costUsd: run.costUsd,
    createdAt: run.createdAt.toISOString(),
    input: run.input,
    error: run.error,
    steps: [...steps.values()],
  };
}
