import { describe, expect, it } from "vitest";
import { canvasToDefinition, definitionToCanvas, nextStepId } from "./canvas";
import type { WorkflowDefinition } from "./schema";

describe("canvas mapping", () => {
  it("turns the simple form into chained edges with an automatic layout", () => {
    const { nodes, edges } = definitionToCanvas({
      id: "s",
      name: "S",
      steps: [
        { id: "a", type: "transform", config: { output: 1 } },
        { id: "b", type: "transform", config: { output: 2 } },
      ],
    });
    expect(edges).toEqual([{ id: "a->b", source: "a", target: "b", sourceHandle: null }]);
    expect(nodes.map((n) => n.position)).toEqual([
      { x: 0, y: 0 },
      { x: 0, y: 150 },
    ]);
  });

  it("round-trips a definition with positions, conditions and assign", () => {
    const def: WorkflowDefinition = {
      id: "w",
      name: "W",
      schemaVersion: 1,
      vars: { n: 0 },
      steps: [
        { id: "c", type: "condition", config: { expression: "vars.n > 1" }, position: { x: 10, y: 20 } },
        { id: "t", type: "transform", name: "Yes", config: { output: "y" }, assign: { n: "{{ vars.n + 1 }}" }, position: { x: 0, y: 200 } },
        { id: "f", type: "transform", config: { output: "n" }, position: { x: 300, y: 200 } },
      ],
      edges: [
        { from: "c", to: "t", when: "true" },
        { from: "c", to: "f", when: "false" },
      ],
    };
    const { nodes, edges } = definitionToCanvas(def);
    expect(edges[0]).toMatchObject({ sourceHandle: "true", label: "true" });
    const { steps, edges: e2, ...meta } = def;
    expect(canvasToDefinition(meta, nodes, edges)).toEqual(def);
  });

  it("folds a long graph's levels into bands side by side, so that it fits a screen as more than a line", () => {
    const long = (steps: number): WorkflowDefinition => ({
      id: "c",
      name: "C",
      steps: Array.from({ length: steps }, (_, i) => ({ id: `s${i}`, type: "transform", config: { output: i } })),
    });
    // Up to 40 levels: one column, as before.
    expect(definitionToCanvas(long(40)).nodes.at(-1)!.position).toEqual({ x: 0, y: 39 * 150 });
    const { nodes } = definitionToCanvas(long(1000));
    const xs = new Set(nodes.map((n) => n.position.x));
    const height = Math.max(...nodes.map((n) => n.position.y)) + 150;
    const width = Math.max(...xs) + 260;
    expect(xs.size).toBeGreaterThan(10);
    expect(width / height).toBeGreaterThan(1);
    expect(width / height).toBeLessThan(2.5);
    // Level by level: down a band, then on at the top of the next one.
    expect(nodes[1].position).toEqual({ x: 0, y: 150 });
    const bandLength = nodes.findIndex((n) => n.position.x > 0);
    expect(nodes[bandLength].position.y).toBe(0);
    expect(nodes[bandLength - 1].position.y).toBe((bandLength - 1) * 150);
    // No two steps in one place.
    expect(new Set(nodes.map((n) => `${n.position.x},${n.position.y}`)).size).toBe(1000);
  });

  it("finds a free step id per kind", () => {
    expect(nextStepId("llm", ["llm_1", "llm_3"])).toBe("llm_2");
  });
});
