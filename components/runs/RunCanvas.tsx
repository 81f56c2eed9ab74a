"use client";

import { ReactFlow } from "@xyflow/react";
import { useCallback, useRef } from "react";
import { CanvasBackground } from "@/components/canvas/CanvasBackground";
import { useEditor, useEditorApi } from "@/components/canvas/editor-store";
import { useOpeningViewport } from "@/components/canvas/fit-view";
import { nodeTypes } from "@/components/canvas/StepNode";
import type { FitOptions } from "@/components/canvas/viewport";

const RUN_FIT: FitOptions = { maxZoom: 1 };
const PRO_OPTIONS = { hideAttribution: true };
/** As in the editor: from this many steps on only the nodes in view are rendered. */
const RENDER_VISIBLE_ONLY_FROM = 200;

/**
 * The run page's graph (right column): read-only, fitted to the column on open, statuses from the live store.
 * Its own component, so that the page body does not render again when React Flow reports node sizes.
 */
export function RunCanvas() {
  const api = useEditorApi();
  const nodes = useEditor((s) => s.nodes);
  const edges = useEditor((s) => s.edges);
  const container = useRef<HTMLDivElement>(null);
  const storeNodes = useCallback(() => api.getState().nodes, [api]);
  const opening = useOpeningViewport(container, storeNodes, RUN_FIT);
  return (
    <div ref={container} className="w-[420px] shrink-0 border-l border-neutral-200 bg-white" data-testid="run-graph">
      {opening && (
        <ReactFlow
          nodes={nodes}
          edges={edges}
          nodeTypes={nodeTypes}
          nodesDraggable={false}
          nodesConnectable={false}
          elementsSelectable={false}
          defaultViewport={opening.viewport}
          minZoom={opening.minZoom}
          onlyRenderVisibleElements={nodes.length >= RENDER_VISIBLE_ONLY_FROM}
          proOptions={PRO_OPTIONS}
        >
          <CanvasBackground />
        </ReactFlow>
      )}
    </div>
  );
}
