import { effectiveEdges, type WorkflowDefinition, type WorkflowEdge } from "./schema";

/**
 * The executable shape of a definition: steps, outgoing edges and which steps can reach which. Pure; shared by
 * the validator and the engine's scheduler.
 */
export interface GraphSpec {
  stepIds: string[];
  edges: WorkflowEdge[];
  outgoing: Map<string, WorkflowEdge[]>;
  entries: string[];
  /** reach.get(a).has(b): there is a path of one or more edges from a to b. */
  reach: Map<string, Set<string>>;
}

export function buildGraph(def: Pick<WorkflowDefinition, "steps" | "edges">): GraphSpec {
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

  const reach = new Map<string, Set<string>>();
  for (const id of stepIds) {
    const seen = new Set<string>();
    const stack = outgoing.get(id)!.map((e) => e.to);
    while (stack.length) {
      const next = stack.pop()!;
      if (seen.has(next)) continue;
      seen.add(next);
      for (const e of outgoing.get(next)!) stack.push(e.to);
    }
    reach.set(id, seen);
  }
  return { stepIds, edges, outgoing, entries, reach };
}

/** Steps no entry step can reach. */
export function unreachableSteps(graph: GraphSpec): string[] {
  const reachable = new Set(graph.entries);
  for (const entry of graph.entries) for (const id of graph.reach.get(entry)!) reachable.add(id);
  return graph.stepIds.filter((id) => !reachable.has(id));
}

/**
 * Join rule: a triggered step is ready when no other pending step lies strictly upstream of it — i.e. can
 * still reach it while it cannot reach back. Steps in the same cycle do not block each other, so loops never
 * deadlock, and a join waits for every parallel lane that can still arrive, whatever the lanes' lengths.
 */
export function readySteps(graph: GraphSpec, pending: readonly string[]): string[] {
  return pending.filter(
    (step) =>
      !pending.some(
        (other) => other !== step && graph.reach.get(other)!.has(step) && !graph.reach.get(step)!.has(other),
      ),
  );
}
