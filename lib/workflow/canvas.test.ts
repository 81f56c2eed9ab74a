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

  it("finds a free step id per kind", () => {
    expect(nextStepId("llm", ["llm_1", "llm_3"])).toBe("llm_2");
  });
});
