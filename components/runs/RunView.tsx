"use client";

import { ReactFlowProvider } from "@xyflow/react";
import Link from "next/link";
import { AuditLink } from "@/components/audit/AuditLink";
import { RunAgainButton } from "./RunAgainButton";
import { useRouter } from "next/navigation";
import dynamic from "next/dynamic";
import { memo, useCallback, useEffect, useMemo, useState } from "react";
import { ApprovalPanel, type ApprovalRequestView } from "./ApprovalPanel";
import { CancelRunButton } from "./CancelRunButton";
import { CheckpointBrowser } from "./CheckpointBrowser";
import { ResumeRunButton } from "./ResumeRunButton";
import { EditorStoreProvider, useEditor, useEditorApi, type LiveRun, type LiveStep } from "@/components/canvas/editor-store";
import { liveRunFromRecords } from "@/lib/runner/live-run";
import { RunCanvas } from "./RunCanvas";
import type { TimelineSelection } from "./Timeline";
import { createTimelineFeed } from "./timeline-feed";
import { formatCost, formatDuration, JsonBlock, StatusBadge } from "@/components/ui/status";
import { StepLog } from "@/components/ui/StepLog";
import type { SerializedError } from "@/lib/engine/errors";
import { useRunEvents } from "@/lib/realtime/client";
import { whenIdle } from "@/lib/when-idle";
import type { RunEvent, RunStatus, StepStatus } from "@/lib/runner/event-types";
import type { RunSummary } from "@/lib/runner/queries";
import type { WorkflowDefinition } from "@/lib/workflow/schema";

/**
 * The timeline's code and data load after the page opened (its own chunk, then a server action): opening a
 * 1,000-step run costs what it did without it.
 */
const Timeline = dynamic(() => import("./Timeline").then((m) => m.Timeline), {
  ssr: false,
  loading: () => <p data-testid="timeline-loading" className="h-8 text-xs text-neutral-500">Loading the timeline…</p>,
});

/** A stored run as the page hands it to the browser (dates as ISO strings). */
export interface RunViewData extends Omit<RunSummary, "createdAt" | "startedAt" | "finishedAt"> {
  startedAt: string | null;
  finishedAt: string | null;
  input: unknown;
  error: SerializedError | null;
  lastSeq: number;
  parent: { runId: string; checkpointId: string | null; stepId: string | null } | null;
  forks: Array<{ runId: string; status: RunStatus; checkpointId: string | null }>;
  subRuns: Array<{ runId: string; status: RunStatus; stepId: string; workflowName: string }>;
  latestWorkflowVersion: number | null;
  /** Whether the user may act on the run (cancel, resume, approve, fork) or only look (view access). */
  canControl: boolean;
  steps: Array<{
    stepId: string;
    stepType: string;
    execution: number;
    status: string;
    /** The config as rendered for this execution (secrets and credentials redacted by the runner). */
    input: unknown;
    output: unknown;
    error: SerializedError | null;
    attempts: number;
    attemptErrors: Array<SerializedError & { attempt: number }>;
    logs: Array<{ level: string; text: string }>;
    tokens: { prompt: number; completion: number } | null;
    costUsd: number | null;
    inheritedFrom: string | null;
    startedAt: string;
    durationMs: number | null;
  }>;
}

const TERMINAL: RunStatus[] = ["succeeded", "failed", "cancelled"];

/** The state of a stored run as the live store sees it: latest execution per step (logs are shown from `run`). */
const liveFromStored = (run: RunViewData): LiveRun => liveRunFromRecords({ ...run, steps: run.steps.map(({ logs: _logs, ...step }) => step) });

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
  // The body renders again for the run's status and error only; step updates reach the step list.
  const liveStatus = useEditor((s) => s.run!.status);
  const liveError = useEditor((s) => s.run!.error);
  const applyRunUpdates = useEditor((s) => s.applyRunUpdates);
  const syncRun = useEditor((s) => s.syncRun);
  // A refresh after an action (resume, decide) may bring a state newer than the events seen here, e.g. a run
  // that was resumed and ended before this page subscribed again: take it.
  useEffect(() => syncRun(liveFromStored(run)), [run, syncRun]);
  const select = useEditor((s) => s.select);
  const [feed] = useState(createTimelineFeed);
  const [selected, setSelected] = useState<TimelineSelection | null>(null);
  // The timeline mounts once the canvas is on screen and the browser is idle: opening the page costs what it did.
  const [canvasOpened, setCanvasOpened] = useState(false);
  const [timelineShown, setTimelineShown] = useState(false);
  const onCanvasOpened = useCallback(() => setCanvasOpened(true), []);
  useEffect(() => (canvasOpened ? whenIdle(() => setTimelineShown(true), 1000) : undefined), [canvasOpened]);
  const onSelectBar = useCallback(
    (selection: TimelineSelection) => {
      setSelected(selection);
      select(selection.canvasStepId);
    },
    [select],
  );
  const api = useEditorApi();
  // A node clicked on the canvas selects its latest execution.
  const onSelectNode = useCallback(
    (stepId: string) => {
      const execution = api.getState().run?.steps[stepId]?.execution ?? 0;
      setSelected({ runId: run.runId, key: `${stepId}#${execution}`, stepId, execution, canvasStepId: stepId });
      select(stepId);
    },
    [api, run.runId, select],
  );
  const ended = TERMINAL.includes(liveStatus) && liveStatus === run.status;
  const facts = useMemo(() => (ended ? stepFacts(run.steps) : NO_FACTS), [ended, run.steps]);
  const timelineRecords = useMemo(
    () => run.steps.map((s) => ({ stepId: s.stepId, execution: s.execution, stepType: s.stepType, ...(s.tokens ? { tokens: s.tokens.prompt + s.tokens.completion, costUsd: s.costUsd } : {}) })),
    [run.steps],
  );

  // Follow a run that is still going; reload the stored details whenever a step or the run ends.
  const following = !TERMINAL.includes(run.status);
  useRunEvents(following ? run.runId : null, run.lastSeq, {
    onUpdates: (updates) => {
      applyRunUpdates(updates);
      feed.push(updates.flatMap((update) => ("event" in update ? [update.event] : [])));
      // A run that starts waiting for a concurrency slot: the reload brings its reason.
      if (updates.some((update) => "event" in update && (ends(update.event) || waitsForSlot(update.event)))) router.refresh();
    },
  });

  const waitingStep = run.status === "waiting" ? run.steps.find((s) => s.status === "waiting" && s.output) : undefined;

  return (
    <div className="flex h-full">
      <div className="min-w-0 flex-1 overflow-y-auto p-5">
        <div className="mb-4 flex flex-wrap items-center gap-3">
          <h1 className="text-lg font-semibold">{run.workflowName}</h1>
          <StatusBadge status={liveStatus} testId="run-page-status" />
          {run.canControl && (liveStatus === "queued" || liveStatus === "running" || liveStatus === "waiting") && <CancelRunButton runId={run.runId} />}
          {run.canControl && (liveStatus === "failed" || liveStatus === "cancelled") && run.status === liveStatus && (
            <ResumeRunButton runId={run.runId} runVersion={run.workflowVersion} latestVersion={run.latestWorkflowVersion} />
          )}
          {run.canControl && <RunAgainButton runId={run.runId} canLatest={run.latestWorkflowVersion !== null} />}
          <span className="font-mono text-xs text-neutral-500">{run.runId}</span>
          <Link href={`/workflows/${run.workflowId}`} className="text-xs text-blue-700 hover:underline">open workflow</Link>
          <AuditLink runId={run.runId} />
          {!run.canControl && (
            <span data-testid="run-view-only" className="rounded bg-sky-50 px-2 py-0.5 text-xs text-sky-900">
              View only: acting on this run takes edit access to its workflow
            </span>
          )}
        </div>
        {liveStatus === "queued" && run.status === "queued" && run.queueReason && (
          <p data-testid="run-queue-reason" className="mb-3 rounded bg-amber-50 px-2 py-1 text-xs text-amber-900">
            Queued: {run.queueReason}
          </p>
        )}
        {run.parent && (
          <p data-testid="run-parent" className="mb-3 text-xs text-neutral-600">
            {run.parent.stepId ? <>Sub-workflow run of step <code>{run.parent.stepId}</code> in run </> : "Forked from run "}
            <Link href={`/runs/${run.parent.runId}`} className="font-mono text-blue-700 hover:underline">{run.parent.runId}</Link>
            {run.parent.checkpointId && <> at checkpoint <code>{run.parent.checkpointId}</code></>}
          </p>
        )}
        {run.subRuns.length > 0 && (
          <p data-testid="run-subruns" className="mb-3 flex flex-wrap gap-2 text-xs text-neutral-600">
            Sub-workflow runs:
            {run.subRuns.map((c) => (
              <Link key={c.runId} href={`/runs/${c.runId}`} className="text-blue-700 hover:underline">
                {c.stepId} → {c.workflowName} ({c.status})
              </Link>
            ))}
          </p>
        )}
        {run.forks.length > 0 && (
          <p data-testid="run-forks" className="mb-3 flex flex-wrap gap-2 text-xs text-neutral-600">
            Forks:
            {run.forks.map((f) => (
              <Link key={f.runId} href={`/runs/${f.runId}`} className="font-mono text-blue-700 hover:underline">{f.runId} ({f.status})</Link>
            ))}
          </p>
        )}
        {waitingStep && liveStatus === "waiting" && (waitingStep.output as { kind?: string }).kind === "callback" && (
          <CallbackWaitPanel stepId={waitingStep.stepId} request={waitingStep.output as { message: string | null; url: string }} />
        )}
        {waitingStep && liveStatus === "waiting" && (waitingStep.output as { kind?: string }).kind === "subworkflow" && (
          <section data-testid="subworkflow-wait-panel" className="mb-4 rounded border border-rose-300 bg-rose-50 p-3 text-sm">
            Step <code>{waitingStep.stepId}</code> waits for its sub-workflow run{" "}
            <Link href={`/runs/${(waitingStep.output as { childRunId: string }).childRunId}`} className="font-mono text-blue-700 hover:underline">
              {(waitingStep.output as { childRunId: string }).childRunId}
            </Link>
            , which waits for an approval or a webhook; this run goes on when it ends.
          </section>
        )}
        {waitingStep && liveStatus === "waiting" && (waitingStep.output as { kind?: string }).kind === "approval" &&
          (run.canControl ? (
            <ApprovalPanel runId={run.runId} stepId={waitingStep.stepId} request={waitingStep.output as ApprovalRequestView} />
          ) : (
            <section data-testid="approval-view-only" className="mb-4 rounded border border-amber-300 bg-amber-50 p-3 text-sm">
              Step <code>{waitingStep.stepId}</code> waits for an approval: {(waitingStep.output as ApprovalRequestView).message}
              <span className="block text-xs text-neutral-600">Users with edit access to the workflow decide it.</span>
            </section>
          ))}
        <dl className="mb-4 grid grid-cols-6 gap-3 text-sm">
          <Fact label="Started" value={run.startedAt ? new Date(run.startedAt).toLocaleString() : "—"} />
          <Fact label="Duration" value={formatDuration(run.durationMs)} testId="run-duration" />
          <Fact label="Version" value={run.workflowVersion ? `v${run.workflowVersion}` : "—"} />
          <Fact label="Source" value={run.source} />
          <Fact label="Tokens" value={run.totalTokens === null ? "—" : String(run.totalTokens)} testId="run-tokens" />
          <Fact label="Cost" value={formatCost(run.costUsd)} testId="run-cost" />
        </dl>
        {(liveError ?? run.error) && (
          <p data-testid="run-error" className="mb-4 rounded border border-red-200 bg-red-50 p-2 text-sm text-red-700">
            <strong>{(liveError ?? run.error)!.code}</strong>
            {(liveError ?? run.error)!.stepId && <> in step <code>{(liveError ?? run.error)!.stepId}</code></>}: {(liveError ?? run.error)!.message}
          </p>
        )}
        <h2 className="mb-1 text-sm font-semibold">Timeline</h2>
        <div className="mb-4">
          {timelineShown ? (
            <Timeline runId={run.runId} feed={feed} records={timelineRecords} subRuns={run.subRuns} selected={selected} onSelect={onSelectBar} />
          ) : (
            <p data-testid="timeline-loading" className="h-8 text-xs text-neutral-500">Loading the timeline…</p>
          )}
          {selected && <SelectedStep selection={selected} run={run} onClose={() => (setSelected(null), select(null))} />}
        </div>
        <h2 className="mb-1 text-sm font-semibold">Input</h2>
        <JsonBlock value={run.input} testId="run-input" />
        <h2 className="mb-2 mt-5 text-sm font-semibold">Steps</h2>
        <StepList steps={run.steps} following={following} />
        <CheckpointBrowser runId={run.runId} runActive={liveStatus === "queued" || liveStatus === "running"} refreshKey={run.status} canControl={run.canControl} />
      </div>
      <RunCanvas facts={facts} onSelectStep={onSelectNode} onOpened={onCanvasOpened} />
    </div>
  );
}

const waitsForSlot = (event: RunEvent) => event.type === "run.status" && event.status === "queued" && event.reason !== undefined;

/** Whether an event ends something the stored details show (a step or the run): the page then reloads them. */
const ends = (event: RunEvent) =>
  event.type === "run.status"
    ? TERMINAL.includes(event.status) || event.status === "waiting"
    : event.type === "step.status" && (event.status === "succeeded" || event.status === "failed" || event.status === "waiting" || event.status === "cancelled");

type StoredStepView = RunViewData["steps"][number];

/** Rows rendered with the page; a longer list renders the rest in slices when the browser is idle. */
const FIRST_ROWS = 50;
const ROWS_PER_SLICE = 150;

/**
 * How many rows of a list to render: the first ones at once, the rest a slice per idle moment, so a 1,000-step run
 * does not hold up its page (its markup was most of the page's megabyte, and hydrating it most of the opening
 * time). Once all are shown, rows added later (a refresh mid-run) show at once.
 */
function useRowsShown(total: number): number {
  const [limit, setLimit] = useState<number | "all">(() => (total <= FIRST_ROWS ? "all" : FIRST_ROWS));
  useEffect(() => {
    if (limit === "all") return;
    return whenIdle(() => setLimit(limit + ROWS_PER_SLICE >= total ? "all" : limit + ROWS_PER_SLICE), 500);
  }, [limit, total]);
  return limit === "all" ? total : Math.min(limit, total);
}

/**
 * The stored step executions, then the steps running live that the stored list does not hold yet. A live update
 * renders again only the rows it concerns (a step still running when the page was rendered shows its live status
 * and streamed text until the refresh at its end brings the stored one); rows out of view are not laid out or
 * painted until scrolled to (content-visibility), and a long list renders in slices (useRowsShown).
 */
function StepList({ steps, following }: { steps: StoredStepView[]; following: boolean }) {
  const liveSteps = useEditor((s) => s.run!.steps);
  const storedKeys = useMemo(() => new Set(steps.map((step) => `${step.stepId}#${step.execution}`)), [steps]);
  const shown = useRowsShown(steps.length);
  return (
    <div className="space-y-2">
      {steps.slice(0, shown).map((step) => (
        <StoredStep
          key={`${step.stepId}#${step.execution}`}
          step={step}
          live={step.status === "running" && liveSteps[step.stepId]?.execution === step.execution ? liveSteps[step.stepId] : undefined}
        />
      ))}
      {following &&
        Object.entries(liveSteps)
          .filter(([id, s]) => s.status === "running" && !storedKeys.has(`${id}#${s.execution}`))
          .map(([id, s]) => (
            <section key={`live-${id}`} className="rounded border border-blue-200 bg-white p-3" data-testid={`live-step-${id}`}>
              <div className="mb-1 flex items-center gap-2 text-sm">
                <StatusBadge status="running" />
                <span className="font-medium">{id}</span>
              </div>
              <StreamedText step={s} testId={`step-tokens-${id}`} />
            </section>
          ))}
    </div>
  );
}

const StoredStep = memo(function StoredStep({ step, live, prefix = "", open = false }: { step: StoredStepView; live: LiveStep | undefined; prefix?: string; open?: boolean }) {
  return (
    <section data-testid={`${prefix}step-${step.stepId}`} className="rounded border border-neutral-200 bg-white p-3 [contain-intrinsic-size:auto_96px] [content-visibility:auto]">
      <div className="mb-2 flex items-center gap-2 text-sm">
        <StatusBadge status={(step.status === "running" ? (live?.status ?? "running") : step.status) as StepStatus} testId={`${prefix}step-status-${step.stepId}`} />
        <span className="font-medium">{step.stepId}</span>
        <span className="font-mono text-[11px] text-neutral-500">{step.stepType}</span>
        {step.execution > 1 && <span className="text-[11px] text-neutral-500">execution {step.execution}</span>}
        {step.inheritedFrom && (
          <span data-testid={`${prefix}inherited-${step.stepId}`} className="text-[11px] text-neutral-500">
            inherited from <Link href={`/runs/${step.inheritedFrom}`} className="font-mono text-blue-700 hover:underline">{step.inheritedFrom}</Link>
          </span>
        )}
        {step.attempts > 1 && <span data-testid={`${prefix}attempts-${step.stepId}`} className="text-[11px] text-amber-700">{step.attempts} attempts</span>}
        {step.tokens && (
          <span data-testid={`${prefix}step-usage-${step.stepId}`} className="ml-auto text-[11px] text-neutral-500">
            {step.tokens.prompt}+{step.tokens.completion} tokens · {formatCost(step.costUsd)}
          </span>
        )}
        <span className={`${step.tokens ? "" : "ml-auto "}text-xs text-neutral-500`}>{formatDuration(step.durationMs)}</span>
      </div>
      {step.attemptErrors.map((e) => (
        <p key={e.attempt} className="mb-1 text-[11px] text-amber-800">
          attempt {e.attempt} failed: {e.code}: {e.message}
        </p>
      ))}
      {step.input !== null && step.input !== undefined && (
        <details className="mb-2 text-xs" open={open}>
          <summary className="cursor-pointer text-neutral-500">Config as rendered</summary>
          <JsonBlock value={step.input} testId={`${prefix}step-input-${step.stepId}`} />
        </details>
      )}
      <StepLog lines={step.logs} testId={`${prefix}step-log-${step.stepId}`} />
      {step.error ? (
        <p className="rounded bg-red-50 px-2 py-1 text-xs text-red-700">{step.error.code}: {step.error.message}</p>
      ) : step.status === "running" ? (
        <StreamedText step={live} testId={`${prefix}step-tokens-${step.stepId}`} />
      ) : (
        <JsonBlock value={step.output} testId={`${prefix}step-output-${step.stepId}`} />
      )}
    </section>
  );
});

const NO_FACTS: ReadonlyMap<string, string> = new Map();

/** "1.2 s · 340 tok · $0.0021" for each step's latest execution (the canvas shows it on the node). */
function stepFacts(steps: StoredStepView[]): ReadonlyMap<string, string> {
  const latest = new Map<string, StoredStepView>();
  for (const step of steps) if ((latest.get(step.stepId)?.execution ?? 0) <= step.execution) latest.set(step.stepId, step);
  const facts = new Map<string, string>();
  for (const [id, step] of latest) {
    if (step.durationMs === null) continue;
    facts.set(id, [formatDuration(step.durationMs), ...(step.tokens ? [`${step.tokens.prompt + step.tokens.completion} tok`, formatCost(step.costUsd)] : [])].join(" · "));
  }
  return facts;
}

/**
 * The bar selected on the timeline (or the node on the canvas): its rendered config, output, log and attempts
 * from the stored record; a step still running shows its live state until the refresh at its end.
 */
function SelectedStep({ selection, run, onClose }: { selection: TimelineSelection; run: RunViewData; onClose(): void }) {
  const live = useEditor((s) => s.run!.steps[selection.stepId]);
  const record = selection.runId === run.runId ? run.steps.find((s) => s.stepId === selection.stepId && s.execution === selection.execution) : undefined;
  return (
    <div data-testid="timeline-detail" data-key={selection.key} className="mt-2">
      <div className="mb-1 flex items-center gap-2 text-xs text-neutral-600">
        Selected: <code>{selection.stepId}</code>
        {selection.execution > 1 && <>execution {selection.execution}</>}
        {selection.runId !== run.runId && (
          <>
            in sub-workflow run{" "}
            <Link href={`/runs/${selection.runId}`} className="font-mono text-blue-700 hover:underline">
              {selection.runId}
            </Link>
          </>
        )}
        <button type="button" onClick={onClose} className="ml-auto text-neutral-500 hover:text-neutral-900" data-testid="timeline-detail-close">
          close
        </button>
      </div>
      {record ? (
        <StoredStep step={record} live={record.status === "running" && live?.execution === record.execution ? live : undefined} prefix="detail-" open />
      ) : selection.runId === run.runId && live ? (
        <section className="rounded border border-blue-200 bg-white p-3" data-testid={`detail-live-step-${selection.stepId}`}>
          <div className="mb-1 flex items-center gap-2 text-sm">
            <StatusBadge status={live.status} />
            <span className="font-medium">{selection.stepId}</span>
          </div>
          <StreamedText step={live} testId={`detail-step-tokens-${selection.stepId}`} />
        </section>
      ) : selection.runId !== run.runId ? (
        <p className="text-xs text-neutral-500">Open the sub-workflow run for this step&apos;s input, output and log.</p>
      ) : (
        <p className="text-xs text-neutral-500">The run has not reached this step.</p>
      )}
    </div>
  );
}

/** The text a running step has streamed so far (LLM tokens), or that it is still at work. */
function StreamedText({ step, testId }: { step: LiveStep | undefined; testId: string }) {
  if (!step?.tokens) return <p className="text-xs text-neutral-500">{step?.status === "running" || !step ? "running…" : step.status}</p>;
  return (
    <p data-testid={testId} className="whitespace-pre-wrap rounded border border-neutral-200 bg-neutral-50 p-2 text-sm">
      {step.tokensFrom ? "…" : ""}
      {step.tokens}
    </p>
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

/** A run waiting at a wait_webhook step: where the outside system must POST to resume it. */
function CallbackWaitPanel({ stepId, request }: { stepId: string; request: { message: string | null; url: string } }) {
  return (
    <section data-testid="callback-panel" className="mb-4 rounded border border-rose-300 bg-rose-50 p-3 text-sm">
      <h2 className="mb-1 font-semibold text-rose-900">
        Waiting for a webhook at step <code>{stepId}</code>
      </h2>
      {request.message && <p className="mb-2 whitespace-pre-wrap">{request.message}</p>}
      <p className="mb-1 text-xs text-neutral-700">POST the result (JSON) to this URL; it works once:</p>
      <code data-testid="callback-url" className="block break-all rounded bg-white px-2 py-1 font-mono text-[11px]">{request.url}</code>
      <p className="mt-2 text-xs text-neutral-600">
        e.g. <code className="font-mono">curl -X POST -H &apos;content-type: application/json&apos; -d &apos;{"{"}&quot;ok&quot;:true{"}"}&apos; &lt;url&gt;</code>
      </p>
    </section>
  );
}

