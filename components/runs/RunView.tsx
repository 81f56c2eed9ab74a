"use client";

import { Background, ReactFlow, ReactFlowProvider } from "@xyflow/react";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { nodeTypes } from "@/components/canvas/StepNode";
import { CancelRunButton } from "./CancelRunButton";
import { EditorStoreProvider, useEditor, type LiveRun } from "@/components/canvas/editor-store";
import { formatDuration, JsonBlock, StatusBadge } from "@/components/ui/status";
import type { SerializedError } from "@/lib/engine/errors";
import { useRunEvents } from "@/lib/realtime/client";
import type { RunStatus, StepStatus } from "@/lib/realtime/events";
import type { RunSummary } from "@/lib/runner/queries";
import type { WorkflowDefinition } from "@/lib/workflow/schema";

/** A stored run as the page hands it to the browser (dates as ISO strings). */
export interface RunViewData extends Omit<RunSummary, "createdAt" | "startedAt" | "finishedAt"> {
  startedAt: string | null;
  finishedAt: string | null;
  input: unknown;
  error: SerializedError | null;
  lastSeq: number;
  steps: Array<{
    stepId: string;
    stepType: string;
    execution: number;
    status: string;
    output: unknown;
    error: SerializedError | null;
    attempts: number;
    attemptErrors: Array<SerializedError & { attempt: number }>;
    startedAt: string;
    durationMs: number | null;
  }>;
}

const TERMINAL: RunStatus[] = ["succeeded", "failed", "cancelled"];

/** The state of a stored run as the live store sees it: latest execution per step. */
function liveFromStored(run: RunViewData): LiveRun {
  const steps: LiveRun["steps"] = {};
  for (const s of run.steps)
    steps[s.stepId] = { status: s.status as StepStatus, execution: s.execution, tokens: "", output: s.output ?? undefined, error: s.error ?? undefined };
  return { runId: run.runId, status: run.status, lastSeq: run.lastSeq, error: run.error ?? undefined, steps };
}

export function RunView({ definition, run }: { definition: WorkflowDefinition; run: RunViewData }) {
  return (
    <EditorStoreProvider init={{ definition, savedVersion: run.workflowVersion, readOnly: true, run: liveFromStored(run) }}>
      <ReactFlowProvider>
        <RunPageBody run={run} />
      </ReactFlowProvider>
    </EditorStoreProvider>
  );
}

function RunPageBody({ run }: { run: RunViewData }) {
  const router = useRouter();
  const live = useEditor((s) => s.run!);
  const applyRunEvent = useEditor((s) => s.applyRunEvent);
  const appendToken = useEditor((s) => s.appendToken);
  const nodes = useEditor((s) => s.nodes);
  const edges = useEditor((s) => s.edges);

  // Follow a run that is still going; reload the stored details whenever a step or the run ends.
  const following = !TERMINAL.includes(run.status);
  useRunEvents(following ? run.runId : null, run.lastSeq, {
    onEvent: (event) => {
      applyRunEvent(event);
      const finished =
        event.type === "run.status" ? TERMINAL.includes(event.status) : event.type === "step.status" && (event.status === "succeeded" || event.status === "failed");
      if (finished) router.refresh();
    },
    onToken: appendToken,
  });

  return (
    <div className="flex h-full">
      <div className="min-w-0 flex-1 overflow-y-auto p-5">
        <div className="mb-4 flex flex-wrap items-center gap-3">
          <h1 className="text-lg font-semibold">{run.workflowName}</h1>
          <StatusBadge status={live.status} testId="run-page-status" />
          {(live.status === "queued" || live.status === "running") && <CancelRunButton runId={run.runId} />}
          <span className="font-mono text-xs text-neutral-500">{run.runId}</span>
          <Link href={`/workflows/${run.workflowId}`} className="text-xs text-blue-700 hover:underline">open workflow</Link>
        </div>
        <dl className="mb-4 grid grid-cols-4 gap-3 text-sm">
          <Fact label="Started" value={run.startedAt ? new Date(run.startedAt).toLocaleString() : "—"} />
          <Fact label="Duration" value={formatDuration(run.durationMs)} testId="run-duration" />
          <Fact label="Version" value={run.workflowVersion ? `v${run.workflowVersion}` : "—"} />
          <Fact label="Source" value={run.source} />
        </dl>
        {(live.error ?? run.error) && (
          <p data-testid="run-error" className="mb-4 rounded border border-red-200 bg-red-50 p-2 text-sm text-red-700">
            <strong>{(live.error ?? run.error)!.code}</strong>
            {(live.error ?? run.error)!.stepId && <> in step <code>{(live.error ?? run.error)!.stepId}</code></>}: {(live.error ?? run.error)!.message}
          </p>
        )}
        <h2 className="mb-1 text-sm font-semibold">Input</h2>
        <JsonBlock value={run.input} testId="run-input" />
        <h2 className="mb-2 mt-5 text-sm font-semibold">Steps</h2>
        <div className="space-y-2">
          {run.steps.map((step) => (
            <section key={`${step.stepId}#${step.execution}`} data-testid={`step-${step.stepId}`} className="rounded border border-neutral-200 bg-white p-3">
              <div className="mb-2 flex items-center gap-2 text-sm">
                <StatusBadge status={step.status as StepStatus} />
                <span className="font-medium">{step.stepId}</span>
                <span className="font-mono text-[11px] text-neutral-500">{step.stepType}</span>
                {step.execution > 1 && <span className="text-[11px] text-neutral-500">execution {step.execution}</span>}
                {step.attempts > 1 && <span data-testid={`attempts-${step.stepId}`} className="text-[11px] text-amber-700">{step.attempts} attempts</span>}
                <span className="ml-auto text-xs text-neutral-500">{formatDuration(step.durationMs)}</span>
              </div>
              {step.attemptErrors.map((e) => (
                <p key={e.attempt} className="mb-1 text-[11px] text-amber-800">
                  attempt {e.attempt} failed: {e.code}: {e.message}
                </p>
              ))}
              {step.error ? (
                <p className="rounded bg-red-50 px-2 py-1 text-xs text-red-700">{step.error.code}: {step.error.message}</p>
              ) : (
                <JsonBlock value={step.output} testId={`step-output-${step.stepId}`} />
              )}
            </section>
          ))}
          {following &&
            Object.entries(live.steps)
              .filter(([id, s]) => s.status === "running" && !run.steps.some((r) => r.stepId === id && r.execution === s.execution))
              .map(([id, s]) => (
                <section key={`live-${id}`} className="rounded border border-blue-200 bg-white p-3" data-testid={`live-step-${id}`}>
                  <div className="mb-1 flex items-center gap-2 text-sm">
                    <StatusBadge status="running" />
                    <span className="font-medium">{id}</span>
                  </div>
                  {s.tokens && <p className="whitespace-pre-wrap text-sm">{s.tokens}</p>}
                </section>
              ))}
        </div>
      </div>
      <div className="w-[420px] shrink-0 border-l border-neutral-200 bg-white" data-testid="run-graph">
        <ReactFlow nodes={nodes} edges={edges} nodeTypes={nodeTypes} nodesDraggable={false} nodesConnectable={false} elementsSelectable={false} fitView proOptions={{ hideAttribution: true }}>
          <Background gap={16} />
        </ReactFlow>
      </div>
    </div>
  );
}

function Fact({ label, value, testId }: { label: string; value: string; testId?: string }) {
  return (
    <div className="rounded border border-neutral-200 bg-white px-3 py-2">
      <dt className="text-[11px] text-neutral-500">{label}</dt>
      <dd data-testid={testId} className="font-medium">{value}</dd>
    </div>
  );
}
