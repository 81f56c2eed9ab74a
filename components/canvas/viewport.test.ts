import { describe, expect, it } from "vitest";
import { linearChain } from "@/e2e/fixtures/large-workflows";
import { definitionToCanvas } from "@/lib/workflow/canvas";
import { DEFAULT_MIN_ZOOM, ESTIMATED_NODE_SIZE, fittedViewport, nodesBounds, type FitOptions, type PlacedNode } from "./viewport";

const pane = { width: 1000, height: 700 };
const corners: FitOptions = { maxZoom: 1, bottomRight: { width: 215, height: 165 }, bottomLeft: { width: 41, height: 123 } };

/** Screen boxes of the nodes under a viewport. */
function screenBoxes(nodes: PlacedNode[], viewport: { x: number; y: number; zoom: number }) {
  return nodes.map((n) => ({
    left: viewport.x + n.position.x * viewport.zoom,
    top: viewport.y + n.position.y * viewport.zoom,
    right: viewport.x + (n.position.x + (n.measured?.width ?? ESTIMATED_NODE_SIZE.width)) * viewport.zoom,
    bottom: viewport.y + (n.position.y + (n.measured?.height ?? ESTIMATED_NODE_SIZE.height)) * viewport.zoom,
  }));
}

function expectClearOfCorners(nodes: PlacedNode[], options: FitOptions) {
  const fitted = fittedViewport(nodes, pane, options)!;
  const right = options.bottomRight!;
  const left = options.bottomLeft!;
  for (const box of screenBoxes(nodes, fitted.viewport)) {
    expect(box.left).toBeGreaterThanOrEqual(-1e-6);
    expect(box.top).toBeGreaterThanOrEqual(-1e-6);
    expect(box.right).toBeLessThanOrEqual(pane.width + 1e-6);
    expect(box.bottom).toBeLessThanOrEqual(pane.height + 1e-6);
    const underRight = box.right > pane.width - right.width && box.bottom > pane.height - right.height;
    const underLeft = box.left < left.width && box.bottom > pane.height - left.height;
    expect(underRight || underLeft).toBe(false);
  }
  return fitted;
}

describe("fittedViewport", () => {
  it("shows every node of a tall chain clear of the minimap and controls, with a zoom-out limit that allows it", () => {
    const nodes = Array.from({ length: 1000 }, (_, i) => ({ position: { x: 0, y: i * 150 } }));
    const fitted = expectClearOfCorners(nodes, corners);
    // 1,000 rows of 150 px into 700 px: far below React Flow's default limit, which then must not apply.
    expect(fitted.viewport.zoom).toBeLessThan(0.01);
    expect(fitted.minZoom).toBe(fitted.viewport.zoom);
  });

  it("keeps the auto layout of a long chain out of the bottom corners", () => {
    expectClearOfCorners(definitionToCanvas(linearChain(1000)).nodes, corners);
  });

  it("keeps a wide row out of the bottom corners", () => {
    const nodes = Array.from({ length: 12 }, (_, i) => ({ position: { x: i * 260, y: 0 } }));
    expectClearOfCorners(nodes, corners);
  });

  it("keeps a square grid out of the bottom corners", () => {
    const nodes = Array.from({ length: 36 }, (_, i) => ({ position: { x: (i % 6) * 260, y: Math.floor(i / 6) * 150 } }));
    expectClearOfCorners(nodes, corners);
  });

  it("does not blow up a small workflow and keeps the default zoom-out limit", () => {
    const fitted = fittedViewport([{ position: { x: 0, y: 0 } }, { position: { x: 0, y: 150 } }], pane, { maxZoom: 1 })!;
    expect(fitted.viewport.zoom).toBe(1);
    expect(fitted.minZoom).toBe(DEFAULT_MIN_ZOOM);
    // Centred.
    expect(fitted.viewport.x + (ESTIMATED_NODE_SIZE.width / 2) * fitted.viewport.zoom).toBeCloseTo(pane.width / 2);
  });

  it("uses measured sizes where React Flow has them", () => {
    expect(nodesBounds([{ position: { x: 10, y: 20 }, measured: { width: 300, height: 90 } }, { position: { x: 0, y: 0 } }])).toEqual({
      x: 0,
      y: 0,
      width: 310,
      height: 110,
    });
  });

  it("has nothing to fit without nodes or without a pane", () => {
    expect(fittedViewport([], pane, corners)).toBeNull();
    expect(fittedViewport([{ position: { x: 0, y: 0 } }], { width: 0, height: 0 }, corners)).toBeNull();
  });

  it("still fits in a pane too small for the panels", () => {
    const fitted = fittedViewport([{ position: { x: 0, y: 0 } }], { width: 200, height: 120 }, corners)!;
    expect(fitted.viewport.zoom).toBeGreaterThan(0);
  });
});
