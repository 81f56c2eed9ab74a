import { effectiveEdges, type WorkflowDefinition, type WorkflowEdge } from "./schema";

/**
 * The executable shape of a definition: steps, outgoing edges and its strongly connected components (loops).
 * Pure; shared by the validator and the engine's scheduler. Building it is linear in steps + edges, so
 * definitions of tens of thousands of steps validate and compile in well under a second.
 */
export interface GraphSpec {
  stepIds: string[];
  edges: WorkflowEdge[];
  outgoing: Map<string, WorkflowEdge[]>;
  entries: string[];
  /**
   * The strongly connected component of each step, numbered in topological order: every edge between two
   * components goes from a lower number to a higher one. Steps of one loop share a component.
   */
  componentOf: Map<string, number>;
  /** The condensation (the DAG of components): the components each component has an edge to, without repeats. */
  componentSuccessors: number[][];
}

/** Steps, their outgoing edges and the entry steps: what validation needs (no components). */
export type StepEdges = Pick<GraphSpec, "stepIds" | "edges" | "outgoing" | "entries">;

export function stepEdges(def: Pick<WorkflowDefinition, "steps" | "edges">): StepEdges {
  const stepIds = def.steps.map((s) => s.id);
  const known = new Set(stepIds);
  const edges = effectiveEdges(def).filter((e) => known.has(e.from) && known.has(e.to));
  const outgoing = new Map<string, WorkflowEdge[]>(stepIds.map((id) => [id, []]));
  const incoming = new Set<string>();
  for (const edge of edges) {
    outgoing.get(edge.from)!.push(edge);
    incoming.add(edge.to);
  }
  // Entry steps have no incoming edge; a workflow that is one big cycle starts at its first step.
  let entries = stepIds.filter((id) => !incoming.has(id));
  if (entries.length === 0 && stepIds.length > 0) entries = [stepIds[0]];
  return { stepIds, edges, outgoing, entries };
}

export function buildGraph(def: Pick<WorkflowDefinition, "steps" | "edges">): GraphSpec {
  const { stepIds, edges, outgoing, entries } = stepEdges(def);
  const indexOf = new Map<string, number>();
  stepIds.forEach((id, i) => {
    if (!indexOf.has(id)) indexOf.set(id, i);
  });
  const successors: number[][] = stepIds.map(() => []);
  for (const edge of edges) successors[indexOf.get(edge.from)!].push(indexOf.get(edge.to)!);

  const { component, count } = stronglyConnectedComponents(successors);
  const componentOf = new Map<string, number>();
  for (const [id, i] of indexOf) componentOf.set(id, component[i]);
  const componentSuccessors: number[][] = Array.from({ length: count }, () => []);
  // Condensation edges, each listed once: steps are visited component by component, and lastSource[c] is the
  // last component that listed c.
  const lastSource = new Int32Array(count).fill(-1);
  for (const from of byComponent(component, count, indexOf.values())) {
    const source = component[from];
    for (const to of successors[from]) {
      const target = component[to];
      if (target === source || lastSource[target] === source) continue;
      lastSource[target] = source;
      componentSuccessors[source].push(target);
    }
  }
  return { stepIds, edges, outgoing, entries, componentOf, componentSuccessors };
}

/** The given nodes grouped by component (a counting sort). */
function byComponent(component: Int32Array, count: number, nodes: Iterable<number>): Int32Array {
  const list = [...nodes];
  const start = new Int32Array(count + 1);
  for (const v of list) start[component[v] + 1]++;
  for (let c = 0; c < count; c++) start[c + 1] += start[c];
  const ordered = new Int32Array(list.length);
  for (const v of list) ordered[start[component[v]]++] = v;
  return ordered;
}

/**
 * Tarjan's algorithm without recursion (a 10,000-step chain would overflow the call stack). Returns each node's
 * component, numbered in topological order (Tarjan finishes components sinks first; the numbers are reversed).
 */
function stronglyConnectedComponents(successors: number[][]): { component: Int32Array; count: number } {
  const n = successors.length;
  const index = new Int32Array(n).fill(-1);
  const low = new Int32Array(n);
  const onStack = new Uint8Array(n);
  const component = new Int32Array(n);
  const stack: number[] = [];
  // The explicit call stack: node and the position in its successor list.
  const callNode = new Int32Array(n);
  const callEdge = new Int32Array(n);
  let nextIndex = 0;
  let finished = 0;
  let depth = 0;
  const enter = (v: number) => {
    index[v] = low[v] = nextIndex++;
    stack.push(v);
    onStack[v] = 1;
    callNode[depth] = v;
    callEdge[depth] = 0;
    depth++;
  };
  for (let root = 0; root < n; root++) {
    if (index[root] !== -1) continue;
    enter(root);
    while (depth > 0) {
      const v = callNode[depth - 1];
      const i = callEdge[depth - 1];
      if (i < successors[v].length) {
        callEdge[depth - 1] = i + 1;
        const w = successors[v][i];
        if (index[w] === -1) enter(w);
        else if (onStack[w] && index[w] < low[v]) low[v] = index[w];
        continue;
      }
      depth--;
      if (low[v] === index[v]) {
        let w: number;
        do {
          w = stack.pop()!;
          onStack[w] = 0;
          component[w] = finished;
        } while (w !== v);
        finished++;
      }
      if (depth > 0) {
        const parent = callNode[depth - 1];
        if (low[v] < low[parent]) low[parent] = low[v];
      }
    }
  }
  for (let v = 0; v < n; v++) component[v] = finished - 1 - component[v];
  return { component, count: finished };
}

/** Steps no entry step can reach (one traversal from the entries). */
export function unreachableSteps(graph: StepEdges): string[] {
  const reachable = new Set(graph.entries);
  const queue = [...graph.entries];
  for (let i = 0; i < queue.length; i++)
    for (const edge of graph.outgoing.get(queue[i])!)
      if (!reachable.has(edge.to)) {
        reachable.add(edge.to);
        queue.push(edge.to);
      }
  return graph.stepIds.filter((id) => !reachable.has(id));
}

/**
 * Join rule: a triggered step is ready when no other pending step lies strictly upstream of it — i.e. can
 * still reach it while it cannot reach back. Steps in the same cycle do not block each other, so loops never
 * deadlock, and a join waits for every parallel lane that can still arrive, whatever the lanes' lengths.
 *
 * "Strictly upstream" is "in an earlier component of the condensation that leads to this one", so one walk
 * over the condensation from the pending steps' components decides all of them. The walk stops at the last
 * pending component in topological order: nothing after it leads back to a pending step.
 */
export function readySteps(graph: GraphSpec, pending: readonly string[]): string[] {
  if (pending.length <= 1) return [...pending];
  const sources = [...new Set(pending.map((id) => graph.componentOf.get(id)!))];
  const last = Math.max(...sources);
  const blocked = new Set<number>();
  const expanded = new Set<number>(sources);
  const stack = [...sources];
  while (stack.length) {
    for (const next of graph.componentSuccessors[stack.pop()!]) {
      if (next > last || blocked.has(next)) continue;
      blocked.add(next);
      if (!expanded.has(next)) {
        expanded.add(next);
        stack.push(next);
      }
    }
  }
  return pending.filter((id) => !blocked.has(graph.componentOf.get(id)!));
}
