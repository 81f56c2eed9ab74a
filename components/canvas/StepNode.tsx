"use client";

import { Handle, Position, useStore, useStoreApi, useUpdateNodeInternals, type NodeProps, type ReactFlowState } from "@xyflow/react";
import { memo, useEffect, type CSSProperties } from "react";
import { StatusBadge } from "@/components/ui/status";
import type { ValidationIssue } from "@/lib/workflow/schema";
import { getStepKind } from "@/lib/workflow/step-kinds";
import { useEditor, type StepNode as StepNodeType } from "./editor-store";
import { NodeRunError, NodeThrottled } from "./NodeRunError";

const accents: Record<string, string> = {
  violet: "bg-violet-100 text-violet-700",
  sky: "bg-sky-100 text-sky-700",
  amber: "bg-amber-100 text-amber-800",
  rose: "bg-rose-100 text-rose-700",
  teal: "bg-teal-100 text-teal-700",
  slate: "bg-slate-200 text-slate-700",
  indigo: "bg-indigo-100 text-indigo-700",
  emerald: "bg-emerald-100 text-emerald-700",
  orange: "bg-orange-100 text-orange-700",
};

const borders = {
  idle: "border-neutral-300",
  queued: "border-neutral-400",
  running: "border-blue-500 node-running",
  waiting: "border-rose-500",
  succeeded: "border-emerald-500",
  failed: "border-red-500",
  cancelled: "border-amber-500",
} as const;

const NO_ISSUES: ValidationIssue[] = [];
const issuesByStep = new WeakMap<ValidationIssue[], Map<string, ValidationIssue[]>>();

/**
 * One step's issues. Every node's selector runs on every store change (each drag frame), so instead of each
 * filtering all issues, one index per issues array is built on first use and the same array comes back until the
 * issues change (no shallow compare needed).
 */
function issuesOfStep(issues: ValidationIssue[], stepId: string): ValidationIssue[] {
  if (issues.length === 0) return NO_ISSUES;
  let index = issuesByStep.get(issues);
  if (!index) {
    index = new Map();
    for (const issue of issues) if (issue.stepId !== undefined) index.set(issue.stepId, [...(index.get(issue.stepId) ?? []), issue]);
    issuesByStep.set(issues, index);
  }
  return index.get(stepId) ?? NO_ISSUES;
}

/**
 * Handles placed with margins: React Flow centres them on the border with translate(), and each transformed
 * element is a compositing layer of its own for the browser, which with 1,000 nodes in view made every frame of a
 * pan about a fifth slower. Same place: half the handle's size (px) beyond the border.
 */
const handleAt = (side: "top" | "bottom" | "right", size: number, extra?: CSSProperties): CSSProperties => ({
  transform: "none",
  ...(side === "right" ? { marginRight: -size / 2, marginTop: -size / 2 } : { marginLeft: -size / 2, [side === "top" ? "marginTop" : "marginBottom"]: -size / 2 }),
  ...extra,
});
const TARGET_HANDLE = handleAt("top", 10);
const SOURCE_HANDLE = handleAt("bottom", 10);
const TRUE_HANDLE = handleAt("bottom", 12, { left: "30%" });
const FALSE_HANDLE = handleAt("bottom", 12, { left: "70%" });
const ERROR_HANDLE = handleAt("right", 12);

/**
 * Below this zoom a node is under ~60 px wide and its text unreadable: it shows its frame (status and problem
 * colours, handles) without the text and badge, which makes a large workflow fitted whole several times cheaper
 * to lay out and paint. Same height either way, so nothing is measured anew when the zoom crosses it.
 */
const DETAIL_ZOOM = 0.3;
const zoomedOut = (s: ReactFlowState) => s.transform[2] < DETAIL_ZOOM;

/** A step on the canvas: kind, name, live run status and its validation problems. */
function StepNodeView({ id, data, selected }: NodeProps<StepNodeType>) {
  const kind = getStepKind(data.type);
  const status = useEditor((s) => s.run?.steps[id]?.status ?? "idle");
  const issues = useEditor((s) => issuesOfStep(s.issues, id));
  const problem = issues.length > 0;
  const far = useStore(zoomedOut);
  // Zoomed out, a node with nothing below its first row is one box of the same height (one element less per node).
  const bare = far && !problem && status !== "failed" && !kind?.routes;
  // The error handle comes and goes with onError: React Flow must re-measure the handles, or a drag from the
  // new one connects nothing. Only then: a node React Flow has not measured yet gets measured anyway, and asking
  // on every mount made each node's measurement a store update of its own (quadratic when a workflow opens).
  const updateNodeInternals = useUpdateNodeInternals();
  const flowStore = useStoreApi();
  const routesErrors = data.onError === "route";
  useEffect(() => {
    const handles = flowStore.getState().nodeLookup.get(id)?.internals.handleBounds;
    if (handles && (handles.source?.some((h) => h.id === "error") ?? false) !== routesErrors) updateNodeInternals(id);
  }, [id, routesErrors, flowStore, updateNodeInternals]);
  return (
    <div
      data-testid={`node-${id}`}
      data-status={status}
      data-invalid={problem ? "true" : undefined}
      className={`w-52 rounded-md border-2 bg-white transition-colors ${far ? "" : "shadow-sm"} ${bare ? "h-[51px]" : ""} ${problem ? "border-red-500 ring-2 ring-red-200" : borders[status]} ${selected ? "outline outline-2 outline-offset-2 outline-neutral-900" : ""}`}
    >
      <Handle type="target" position={Position.Top} style={TARGET_HANDLE} className="!h-2.5 !w-2.5 !bg-neutral-500" />
      {bare ? null : far ? (
        <div className="h-[47px]" />
      ) : (
        <div className="flex items-center gap-2 px-2.5 py-2">
          <span className={`grid h-7 w-7 shrink-0 place-items-center rounded text-sm ${accents[kind?.color ?? ""] ?? "bg-neutral-100"}`}>{kind?.icon ?? "?"}</span>
          <div className="min-w-0 flex-1">
            <div className="truncate text-[13px] font-medium leading-tight">{data.name || id}</div>
            <div className="truncate font-mono text-[10px] text-neutral-500">
              {data.type}
              {data.name ? ` · ${id}` : ""}
            </div>
          </div>
          <StatusBadge status={status} />
        </div>
      )}
      {problem && (
        <div data-testid={`node-issue-${id}`} className="border-t border-red-200 bg-red-50 px-2.5 py-1 text-[10px] leading-snug text-red-700">
          {issues[0].message}
          {issues.length > 1 ? ` (+${issues.length - 1} more)` : ""}
        </div>
      )}
      <NodeRunError stepId={id} />
      <NodeThrottled stepId={id} />
      {kind?.routes ? (
        <>
          <Handle type="source" id="true" position={Position.Bottom} style={TRUE_HANDLE} className="!h-3 !w-3 !bg-emerald-500" title="true" />
          <Handle type="source" id="false" position={Position.Bottom} style={FALSE_HANDLE} className="!h-3 !w-3 !bg-red-500" title="false" />
          <div className="flex justify-between px-8 pb-0.5 text-[9px] font-medium">
            <span className="text-emerald-600">true</span>
            <span className="text-red-600">false</span>
          </div>
        </>
      ) : (
        <Handle type="source" position={Position.Bottom} style={SOURCE_HANDLE} className="!h-2.5 !w-2.5 !bg-neutral-500" />
      )}
      {routesErrors && (
        <Handle type="source" id="error" position={Position.Right} style={ERROR_HANDLE} className="!h-3 !w-3 !bg-red-600" title="on error" />
      )}
    </div>
  );
}

/**
 * Renders again only for what it shows: React Flow also passes the measured size and the position, which change
 * for every node when a workflow opens (all measured at once) and on every frame of a drag.
 */
export const StepNode = memo(StepNodeView, (a, b) => a.id === b.id && a.data === b.data && a.selected === b.selected);
export const nodeTypes = { step: StepNode };
