"use client";

import { ReactFlow, useReactFlow, useStore as useFlowStore, useStoreApi as useFlowStoreApi, ViewportPortal, type Edge, type ReactFlowState } from "@xyflow/react";
import { memo, useCallback, useEffect, useMemo, useRef } from "react";
import { CanvasBackground } from "@/components/canvas/CanvasBackground";
import { useEditor, useEditorApi, type LiveRun, type StepNode as StepNodeType } from "@/components/canvas/editor-store";
import { useOpeningViewport } from "@/components/canvas/fit-view";
import { nodeTypes } from "@/components/canvas/StepNode";
import type { FitOptions } from "@/components/canvas/viewport";
import type { RunStatus } from "@/lib/runner/event-types";

const RUN_FIT: FitOptions = { maxZoom: 1 };
const PRO_OPTIONS = { hideAttribution: true };
/** As in the editor: from this many steps on only the nodes in view are rendered. */
const RENDER_VISIBLE_ONLY_FROM = 200;
const ENDED: RunStatus[] = ["succeeded", "failed", "cancelled"];
const NODE_WIDTH = 208;

/** A step reached in the run: it has a record other than queued. */
const reached = (run: LiveRun | null, stepId: string) => {
  const status = run?.steps[stepId]?.status;
  return status !== undefined && status !== "queued";
};

/** Node objects per state, so a node keeps its identity unless its state changes (React Flow renders only those). */
const nodeVariants = new WeakMap<StepNodeType, Record<string, StepNodeType>>();
function nodeVariant(node: StepNodeType, state: "unreached" | "selected"): StepNodeType {
  let byState = nodeVariants.get(node);
  if (!byState) nodeVariants.set(node, (byState = {}));
  return (byState[state] ??= state === "selected" ? { ...node, selected: true } : { ...node, className: "run-node-unreached opacity-35" });
}

/**
 * Which edges the run went along: the source's latest execution ended the way the edge leaves it (the branch a
 * condition took, the error route of a failed step routed on error, any other edge of a step that succeeded)
 * and the target was reached. The same rule as the engine's (compile.ts, `targets`).
 */
function takenEdge(edge: Edge, run: LiveRun, onErrorRoutes: (stepId: string) => boolean): boolean {
  const source = run.steps[edge.source];
  if (!source || !reached(run, edge.target)) return false;
  const when = edge.sourceHandle === "true" || edge.sourceHandle === "false" || edge.sourceHandle === "error" ? edge.sourceHandle : undefined;
  if (source.status === "failed") return when === "error" && onErrorRoutes(edge.source);
  if (source.status !== "succeeded") return false;
  if (when === "error") return false;
  return when === undefined || when === String((source.output as { result?: unknown } | undefined)?.result === true);
}

const TAKEN_STYLE = { stroke: "#2563eb", strokeWidth: 2.5 };
const NOT_TAKEN_STYLE = { opacity: 0.3 };

/** Edge objects per state, so an unchanged edge keeps its identity (React Flow renders only the ones that change). */
const variants = new WeakMap<Edge, Record<string, Edge>>();
function edgeVariant(edge: Edge, state: "taken" | "live" | "not-taken"): Edge {
  let byState = variants.get(edge);
  if (!byState) variants.set(edge, (byState = {}));
  return (byState[state] ??=
    state === "not-taken"
      ? { ...edge, className: "run-edge-not-taken", style: NOT_TAKEN_STYLE }
      : { ...edge, className: "run-edge-taken", style: TAKEN_STYLE, animated: state === "live" });
}

/** Below this zoom nodes are frames without text (StepNode): no facts either. */
const zoomedOut = (s: ReactFlowState) => s.transform[2] < 0.3;

/**
 * The run page's graph (right column): read-only, fitted to the column on open, statuses from the live store, the
 * path the run took highlighted (animated while it goes on), steps it did not reach dimmed once it ended.
 * Its own component, so that the page body does not render again when React Flow reports node sizes.
 */
export const RunCanvas = memo(function RunCanvas({
  facts,
  onSelectStep,
  onOpened,
}: {
  facts: ReadonlyMap<string, string>;
  onSelectStep(stepId: string): void;
  onOpened?(): void;
}) {
  const api = useEditorApi();
  const nodes = useEditor((s) => s.nodes);
  const edges = useEditor((s) => s.edges);
  const run = useEditor((s) => s.run);
  const selectedId = useEditor((s) => s.selectedId);
  const container = useRef<HTMLDivElement>(null);
  const storeNodes = useCallback(() => api.getState().nodes, [api]);
  const opening = useOpeningViewport(container, storeNodes, RUN_FIT);

  const onErrorRoutes = useMemo(() => {
    const routed = new Set(nodes.filter((n) => n.data.onError === "route").map((n) => n.id));
    return (stepId: string) => routed.has(stepId);
  }, [nodes]);
  // A new array only when an edge's state changed (live batches that change no edge keep the same one).
  const previous = useRef<Edge[]>(edges);
  const shownEdges = useMemo(() => {
    if (!run || !Object.keys(run.steps).length) return edges;
    const ended = ENDED.includes(run.status);
    const next = edges.map((edge) => (takenEdge(edge, run, onErrorRoutes) ? edgeVariant(edge, ended ? "taken" : "live") : ended ? edgeVariant(edge, "not-taken") : edge));
    const before = previous.current;
    return next.length === before.length && next.every((edge, i) => edge === before[i]) ? before : next;
  }, [edges, run, onErrorRoutes]);
  previous.current = shownEdges;

  // The step selected (on the timeline or here) is outlined like a selected node in the editor; once the run
  // ended, the steps it did not reach are faded (a class on React Flow's node: no component of our own per node).
  const ended = !!run && ENDED.includes(run.status);
  const shownNodes = useMemo(() => {
    if (!selectedId && !ended) return nodes;
    return nodes.map((node) => (node.id === selectedId ? nodeVariant(node, "selected") : ended && !reached(run, node.id) ? nodeVariant(node, "unreached") : node));
  }, [nodes, selectedId, ended, run]);
  const far = useFlowStore(zoomedOut);

  // A step selected on the timeline that is out of view is brought into it (at the same zoom).
  const flow = useFlowStoreApi();
  const { setCenter } = useReactFlow();
  useEffect(() => {
    const node = selectedId ? api.getState().nodes.find((n) => n.id === selectedId) : undefined;
    if (!node || !opening) return;
    const { transform, width, height } = flow.getState();
    const [tx, ty, zoom] = transform;
    const size = node.measured ?? { width: NODE_WIDTH, height: 60 };
    const x = node.position.x * zoom + tx;
    const y = node.position.y * zoom + ty;
    if (x >= 0 && y >= 0 && x + (size.width ?? NODE_WIDTH) * zoom <= width && y + (size.height ?? 60) * zoom <= height) return;
    void setCenter(node.position.x + (size.width ?? NODE_WIDTH) / 2, node.position.y + (size.height ?? 60) / 2, { zoom, duration: 200 });
  }, [selectedId, api, flow, setCenter, opening]);

  // Mount what can wait (the timeline) once the nodes are on screen: two frames after React Flow's first render.
  const opened = useRef(false);
  useEffect(() => {
    if (!opening || opened.current || !onOpened) return;
    opened.current = true;
    let frame = requestAnimationFrame(() => (frame = requestAnimationFrame(() => onOpened())));
    return () => cancelAnimationFrame(frame);
  }, [opening, onOpened]);

  const onNodeClick = useCallback((_: unknown, node: { id: string }) => onSelectStep(node.id), [onSelectStep]);
  return (
    <div
      ref={container}
      className="w-[420px] shrink-0 border-l border-neutral-200 bg-white"
      data-testid="run-graph"
    >
      {opening && (
        <ReactFlow
            nodes={shownNodes}
            edges={shownEdges}
            nodeTypes={nodeTypes}
            nodesDraggable={false}
            nodesConnectable={false}
            elementsSelectable={false}
            onNodeClick={onNodeClick}
            defaultViewport={opening.viewport}
            minZoom={opening.minZoom}
            onlyRenderVisibleElements={nodes.length >= RENDER_VISIBLE_ONLY_FROM}
            proOptions={PRO_OPTIONS}
          >
            <CanvasBackground />
            {!far && facts.size > 0 && <NodeFacts facts={facts} />}
          </ReactFlow>
      )}
    </div>
  );
});

/**
 * Duration, tokens and cost above each node in view (one layer in the viewport's coordinates, not an element in
 * every node: nodes stay the editor's, measured and laid out as there). Rendered only zoomed in.
 */
function NodeFacts({ facts }: { facts: ReadonlyMap<string, string> }) {
  const nodes = useEditor((s) => s.nodes);
  const [tx, ty, zoom] = useFlowStore((s) => s.transform);
  const width = useFlowStore((s) => s.width);
  const height = useFlowStore((s) => s.height);
  const inView = nodes.filter((node) => {
    const x = node.position.x * zoom + tx;
    const y = node.position.y * zoom + ty;
    return facts.has(node.id) && x + NODE_WIDTH * zoom >= 0 && x <= width && y + 80 * zoom >= 0 && y - 20 <= height;
  });
  return (
    <ViewportPortal>
      {inView.map((node) => (
        <div
          key={node.id}
          data-testid={`node-facts-${node.id}`}
          className="pointer-events-none absolute whitespace-nowrap rounded bg-neutral-800 px-1 text-[9px] leading-[14px] text-white"
          style={{ transform: `translate(${node.position.x + (node.measured?.width ?? NODE_WIDTH)}px, ${node.position.y - 16}px) translateX(-100%)` }}
        >
          {facts.get(node.id)}
        </div>
      ))}
    </ViewportPortal>
  );
}
