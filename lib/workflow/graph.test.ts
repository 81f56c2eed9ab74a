import { describe, expect, it } from "vitest";
import { buildGraph, readySteps, unreachableSteps } from "./graph";
import type { WorkflowEdge } from "./schema";

/** Deterministic pseudo-random numbers, so a failure can be replayed. */
function random(seed: number) {
  let state = seed;
  return () => (state = (state * 1103515245 + 12345) % 2147483648) / 2147483648;
}

/** The join rule exactly as stated, over reachability computed by brute force (a path of one or more edges). */
function readyByDefinition(stepIds: string[], edges: WorkflowEdge[], pending: string[]): string[] {
  const reaches = (from: string, to: string) => {
    const seen = new Set<string>();
    const stack = edges.filter((e) => e.from === from).map((e) => e.to);
    while (stack.length) {
      const next = stack.pop()!;
      if (next === to) return true;
      if (seen.has(next)) continue;
      seen.add(next);
      for (const e of edges) if (e.from === next) stack.push(e.to);
    }
    return false;
  };
  return pending.filter((step) => !pending.some((other) => other !== step && reaches(other, step) && !reaches(step, other)));
}

const steps = (ids: string[]) => ids.map((id) => ({ id, type: "transform", config: {} }));

describe("graph", () => {
  it("applies the join rule exactly as defined, on thousands of random graphs with loops", () => {
    const next = random(9);
    let decisions = 0;
    for (let g = 0; g < 1500; g++) {
      const ids = Array.from({ length: 1 + Math.floor(next() * 10) }, (_, i) => `s${i}`);
      const pick = () => ids[Math.floor(next() * ids.length)];
      const edges = Array.from({ length: Math.floor(next() * ids.length * 2.5) }, () => ({ from: pick(), to: pick() }));
      const graph = buildGraph({ steps: steps(ids), edges });
      // Components are numbered in topological order.
      for (const e of edges) expect(graph.componentOf.get(e.from)!).toBeLessThanOrEqual(graph.componentOf.get(e.to)!);
      for (let d = 0; d < 10; d++) {
        const pending = ids.filter(() => next() < 0.4).sort(() => next() - 0.5);
        expect(readySteps(graph, pending)).toEqual(readyByDefinition(ids, edges, pending));
        decisions++;
      }
    }
    expect(decisions).toBe(15_000);
  });

  it("holds a join for a lane that can still arrive, and never holds steps of one loop", () => {
    const graph = buildGraph({
      steps: steps(["start", "a", "b1", "b2", "join", "x", "y"]),
      edges: [
        { from: "start", to: "a" },
        { from: "start", to: "b1" },
        { from: "b1", to: "b2" },
        { from: "a", to: "join" },
        { from: "b2", to: "join" },
        { from: "join", to: "x" },
        { from: "x", to: "y" },
        { from: "y", to: "x" },
      ],
    });
    expect(readySteps(graph, ["join", "b1"])).toEqual(["b1"]);
    expect(readySteps(graph, ["join", "b2"])).toEqual(["b2"]);
    expect(readySteps(graph, ["join"])).toEqual(["join"]);
    expect(readySteps(graph, ["x", "y"])).toEqual(["x", "y"]);
    expect(readySteps(graph, ["y", "b1"])).toEqual(["b1"]);
  });

  it("handles 20,000-step chains and cycles without recursion", () => {
    const ids = Array.from({ length: 20_000 }, (_, i) => `s${i}`);
    const chain = ids.slice(1).map((id, i) => ({ from: ids[i], to: id }));
    const line = buildGraph({ steps: steps(ids), edges: chain });
    expect(new Set(line.componentOf.values()).size).toBe(20_000);
    expect(unreachableSteps(line)).toEqual([]);
    expect(readySteps(line, ["s19999", "s0"])).toEqual(["s0"]);

    const ring = buildGraph({ steps: steps(ids), edges: [...chain, { from: "s19999", to: "s0" }] });
    expect(new Set(ring.componentOf.values()).size).toBe(1);
    expect(ring.entries).toEqual(["s0"]);
    expect(readySteps(ring, ["s19999", "s0"])).toEqual(["s19999", "s0"]);

    const cut = buildGraph({ steps: steps(ids), edges: chain.filter((e) => e.to !== "s10000") });
    expect(unreachableSteps(cut)).toEqual([]); // s10000 has no incoming edge: it is an entry
    const orphanLoop = buildGraph({ steps: steps(["a", "b", "c"]), edges: [{ from: "b", to: "c" }, { from: "c", to: "b" }] });
    expect(unreachableSteps(orphanLoop)).toEqual(["b", "c"]);
  });
});
