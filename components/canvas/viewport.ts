import type { Viewport } from "@xyflow/react";

/**
 * Fitting a whole workflow into a canvas pane, leaving the corners that panels (minimap, zoom controls) cover
 * free of nodes. Pure: the pane size and the nodes come in, a viewport comes out.
 */

/** A step node before React Flow has measured it (w-52, two lines of text). */
export const ESTIMATED_NODE_SIZE = { width: 208, height: 52 };
/** React Flow's default zoom-out limit; a workflow that only fits further out gets that zoom as its limit. */
export const DEFAULT_MIN_ZOOM = 0.5;
/** React Flow's margin around a panel (`.react-flow__panel`). */
export const PANEL_MARGIN = 15;
/** Free space around a fitted workflow (px). */
const FIT_MARGIN = 24;

export interface CornerPanel {
  width: number;
  height: number;
}

export interface FitOptions {
  /** Largest zoom (a small workflow is not blown up). */
  maxZoom: number;
  /** Panels in the bottom corners, margins included: nodes must not end up under them. */
  bottomRight?: CornerPanel;
  bottomLeft?: CornerPanel;
}

export interface PlacedNode {
  position: { x: number; y: number };
  measured?: { width?: number; height?: number };
}

export interface Bounds {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** The box around all nodes (flow units); measured sizes where React Flow has them, else the estimate. */
export function nodesBounds(nodes: readonly PlacedNode[]): Bounds | null {
  if (nodes.length === 0) return null;
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  for (const node of nodes) {
    const { x, y } = node.position;
    minX = Math.min(minX, x);
    minY = Math.min(minY, y);
    maxX = Math.max(maxX, x + (node.measured?.width ?? ESTIMATED_NODE_SIZE.width));
    maxY = Math.max(maxY, y + (node.measured?.height ?? ESTIMATED_NODE_SIZE.height));
  }
  return { x: minX, y: minY, width: maxX - minX, height: maxY - minY };
}

/**
 * The viewport that shows every node, and the zoom-out limit that goes with it (React Flow's default unless the
 * workflow needs less to fit). A corner panel is kept clear either by a margin on its side or by one at the
 * bottom, whichever leaves the larger zoom. Null without nodes or without a measured pane.
 */
export function fittedViewport(nodes: readonly PlacedNode[], pane: { width: number; height: number }, options: FitOptions): { viewport: Viewport; minZoom: number } | null {
  const bounds = nodesBounds(nodes);
  if (!bounds || pane.width <= 0 || pane.height <= 0) return null;
  const size = { width: Math.max(bounds.width, 1), height: Math.max(bounds.height, 1) };
  // Centred in the space the padding leaves; null when the padding leaves none.
  const place = (padding: { top: number; right: number; bottom: number; left: number }): Viewport | null => {
    const free = { width: pane.width - padding.left - padding.right, height: pane.height - padding.top - padding.bottom };
    if (free.width <= 0 || free.height <= 0) return null;
    const zoom = Math.min(options.maxZoom, free.width / size.width, free.height / size.height);
    return {
      zoom,
      x: padding.left + (free.width - size.width * zoom) / 2 - bounds.x * zoom,
      y: padding.top + (free.height - size.height * zoom) / 2 - bounds.y * zoom,
    };
  };
  const right = options.bottomRight ?? { width: 0, height: 0 };
  const left = options.bottomLeft ?? { width: 0, height: 0 };
  const m = FIT_MARGIN;
  const beside = place({ top: m, bottom: m, left: m + left.width, right: m + right.width });
  const above = place({ top: m, bottom: m + Math.max(left.height, right.height), left: m, right: m });
  const viewport =
    (beside && above ? (beside.zoom >= above.zoom ? beside : above) : (beside ?? above)) ??
    // A pane too small for the panels: the plain margin (the panels may cover something), or none at all.
    place({ top: m, bottom: m, left: m, right: m }) ??
    place({ top: 0, bottom: 0, left: 0, right: 0 })!;
  return { viewport, minZoom: Math.min(DEFAULT_MIN_ZOOM, viewport.zoom) };
}
