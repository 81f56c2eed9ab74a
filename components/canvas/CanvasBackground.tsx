"use client";

import { Background, useStore } from "@xyflow/react";

const GAP = 16;

/**
 * The dotted grid, left out once the dots would be closer than 4 px: zoomed far out (a large workflow fitted
 * whole) a pattern with tiles of a fraction of a pixel costs the browser more to paint than the nodes.
 */
export function CanvasBackground() {
  const visible = useStore((s) => s.transform[2] * GAP >= 4);
  return visible ? <Background gap={GAP} /> : null;
}
