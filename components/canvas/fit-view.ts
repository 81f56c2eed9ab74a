"use client";

import { useReactFlow, useStoreApi, type Viewport } from "@xyflow/react";
import { useCallback, useLayoutEffect, useState, type RefObject } from "react";
import { DEFAULT_MIN_ZOOM, fittedViewport, type FitOptions, type PlacedNode } from "./viewport";

export interface Opening {
  viewport: Viewport;
  minZoom: number;
}

const UNFITTED: Opening = { viewport: { x: 0, y: 0, zoom: 1 }, minZoom: DEFAULT_MIN_ZOOM };

/**
 * The viewport a canvas opens with: the whole workflow in the container. Measured before the first paint, so
 * React Flow mounts with it (`defaultViewport`) instead of fitting once every node is measured (no jump, and
 * nothing waits for the measurements). Null until then: render React Flow only when it is there.
 */
export function useOpeningViewport(container: RefObject<HTMLElement | null>, nodes: () => readonly PlacedNode[], options: FitOptions): Opening | null {
  const [opening, setOpening] = useState<Opening | null>(null);
  useLayoutEffect(() => {
    if (opening || !container.current) return;
    const { width, height } = container.current.getBoundingClientRect();
    setOpening(fittedViewport(nodes(), { width, height }, options) ?? UNFITTED);
  }, [opening, container, nodes, options]);
  return opening;
}

/** Fits the whole workflow into the canvas again (after an import, or the fit button). Inside a ReactFlowProvider. */
export function useFitWorkflow(nodes: () => readonly PlacedNode[], options: FitOptions) {
  const flow = useStoreApi();
  const { setViewport } = useReactFlow();
  return useCallback(() => {
    const { domNode, setMinZoom } = flow.getState();
    const pane = domNode?.getBoundingClientRect();
    const fitted = pane && fittedViewport(nodes(), pane, options);
    if (!fitted) return;
    setMinZoom(fitted.minZoom);
    void setViewport(fitted.viewport);
  }, [flow, setViewport, nodes, options]);
}
