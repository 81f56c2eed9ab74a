import Link from "next/link";
import { formatCost, formatDuration, JsonBlock, StatusBadge } from "@/components/ui/status";
import type { SerializedError } from "@/lib/engine/errors";
import { diffJson, type JsonDifference } from "@/lib/json-diff";
import type { RunStatus, StepStatus } from "@/lib/runner/event-types";

export interface ComparedRun {
  runId: string;
  workflowId: string;
  workflowName: string;
  workflowVersion: number | null;
  status: RunStatus;
  durationMs: number | null;
  costUsd: number | null;
  createdAt: string;
  input: unknown;
  error: SerializedError | null;
  steps: Array<{ stepId: string; stepType: string; status: StepStatus; execution: number; output: unknown; error: SerializedError | null; durationMs: number | null }>;
}

const show = (value: unknown) => (value === undefined ? "—" : JSON.stringify(value));

function Differences({ diff, testId }: { diff: { differences: JsonDifference[]; truncated: boolean }; testId: string }) {
  if (!diff.differences.length) return <p data-testid={testId} data-same="true" className="text-xs text-neutral-500">Same in both runs.</p>;
  return (
    <ul data-testid={testId} data-same="false" className="space-y-0.5 font-mono text-[11px]">
      {diff.differences.map((d) => (
        <li key={d.path} data-testid="difference" className={d.kind === "added" ? "text-emerald-800" : d.kind === "removed" ? "text-red-800" : "text-amber-900"}>
          <span className="font-semibold">{d.path}</span>{" "}
          {d.kind === "changed" ? (
            <>
              <span className="bg-red-100 line-through">{show(d.a)}</span> → <span className="bg-emerald-100">{show(d.b)}</span>
            </>
          ) : d.kind === "added" ? (
            <>only in B: <span className="bg-emerald-100">{show(d.b)}</span></>
          ) : (
            <>only in A: <span className="bg-red-100">{show(d.a)}</span></>
          )}
        </li>
      ))}
      {diff.truncated && <li className="text-neutral-500">… more differences not shown</li>}
    </ul>
  );
}

/** Two runs side by side: inputs, then each step's status, duration and output, differences highlighted. */
export function CompareView({ a, b }: { a: ComparedRun; b: ComparedRun }) {
  const stepIds = [...new Set([...a.steps.map((s) => s.stepId), ...b.steps.map((s) => s.stepId)])];
  const stepOf = (run: ComparedRun, id: string) => run.steps.find((s) => s.stepId === id);
  const inputDiff = diffJson(a.input, b.input);
  return (
    <div className="mx-auto max-w-6xl p-6" data-testid="compare-view">
      <h1 className="mb-3 text-lg font-semibold">Compare runs</h1>
      <div className="mb-4 grid grid-cols-2 gap-3 text-sm">
        {([["A", a], ["B", b]] as const).map(([label, run]) => (
          <div key={label} data-testid={`compare-run-${label}`} className="rounded border border-neutral-200 bg-white p-3">
            <div className="mb-1 flex items-center gap-2">
              <span className="rounded bg-neutral-900 px-1.5 text-xs font-semibold text-white">{label}</span>
              <Link href={`/runs/${run.runId}`} className="font-mono text-xs text-blue-700 hover:underline">{run.runId}</Link>
              <StatusBadge status={run.status} />
            </div>
            <div className="text-xs text-neutral-600">
              {run.workflowName}
              {run.workflowVersion !== null && ` v${run.workflowVersion}`} · {new Date(run.createdAt).toLocaleString()} · {formatDuration(run.durationMs)} · {formatCost(run.costUsd)}
            </div>
            {run.error && <p className="mt-1 text-xs text-red-700">{run.error.code}: {run.error.message}</p>}
          </div>
        ))}
      </div>

      <section className="mb-4 rounded border border-neutral-200 bg-white p-3">
        <h2 className="mb-2 text-sm font-semibold">Input</h2>
        <div className="mb-2 grid grid-cols-2 gap-3">
          <JsonBlock value={a.input} testId="compare-input-a" />
          <JsonBlock value={b.input} testId="compare-input-b" />
        </div>
        <Differences diff={inputDiff} testId="compare-input-diff" />
      </section>

      <section className="rounded border border-neutral-200 bg-white p-3">
        <h2 className="mb-2 text-sm font-semibold">Steps</h2>
        <table className="w-full text-xs" data-testid="compare-steps">
          <thead className="text-left text-neutral-500">
            <tr>
              <th className="py-1 pr-2 font-medium">Step</th>
              <th className="py-1 pr-2 font-medium">A</th>
              <th className="py-1 pr-2 font-medium">B</th>
              <th className="py-1 font-medium">Output</th>
            </tr>
          </thead>
          <tbody>
            {stepIds.map((id) => {
              const left = stepOf(a, id);
              const right = stepOf(b, id);
              const diff = diffJson(left?.output ?? left?.error ?? undefined, right?.output ?? right?.error ?? undefined);
              const same = diff.differences.length === 0;
              return (
                <tr key={id} data-testid={`compare-step-${id}`} data-same={same} className={`border-t border-neutral-100 align-top ${same ? "" : "bg-amber-50"}`}>
                  <td className="py-1 pr-2 font-mono">{id}</td>
                  {[left, right].map((step, i) => (
                    <td key={i} className="py-1 pr-2">
                      {step ? (
                        <span className="flex items-center gap-1">
                          <StatusBadge status={step.status} /> <span data-testid={`compare-duration-${i ? "b" : "a"}`}>{formatDuration(step.durationMs)}</span>
                        </span>
                      ) : (
                        <span className="text-neutral-400">did not run</span>
                      )}
                    </td>
                  ))}
                  <td className="py-1">
                    <Differences diff={diff} testId={`compare-output-diff-${id}`} />
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </section>
    </div>
  );
}
