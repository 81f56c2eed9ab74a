import { stepEdges } from "./graph";
import { effectiveEdges, type WorkflowDefinition, type WorkflowEdge, type WorkflowStep } from "./schema";

/**
 * Pure mapping between a definition and the canvas (React Flow nodes and edges). Node ids are step ids; a
 * condition's `when` lives on the edge's source handle ("true"/"false").
 */

export interface StepNodeData extends Record<string, unknown> {
  type: string;
  name?: string;
  config: Record<string, unknown>;
  assign?: Record<string, string>;
  retry?: WorkflowStep["retry"];
  timeoutMs?: number;
  onError?: WorkflowStep["onError"];
  outputSchema?: Record<string, unknown>;
}

/** Step fields besides id/type/config that the canvas carries unchanged. */
const STEP_EXTRAS = ["name", "assign", "retry", "timeoutMs", "onError", "outputSchema"] as const;

/** Source handles that stand for an edge's `when`. */
const WHEN_HANDLES = new Set(["true", "false", "error"]);

export interface CanvasNode {
  id: string;
  type: "step";
  position: { x: number; y: number };
  data: StepNodeData;
}

export interface CanvasEdge {
  id: string;
  source: string;
  target: string;
  sourceHandle?: string | null;
  label?: unknown;
}

export type WorkflowMeta = Omit<WorkflowDefinition, "steps" | "edges">;

export const edgeId = (e: Pick<WorkflowEdge, "from" | "to" | "when">) => `${e.from}->${e.to}${e.when ? `:${e.when}` : ""}`;

const COLUMN = 260;
const ROW = 150;
/** Up to this many levels a layout is one column of levels; beyond, the levels fold into bands side by side. */
const LEVELS_UNFOLDED = 40;
const BAND_GAP = 100;
/** Width over height the bands of a folded layout aim at (a screen's). */
const FOLDED_ASPECT = 1.6;

/**
 * Layered layout (depth from the entry steps) for steps that have no saved position. A long graph (a chain of
 * 1,000 steps is 150,000 px tall) would fit a screen only as a thin line, so its levels fold into bands placed
 * side by side: band after band of up to `levelsPerBand` levels, about 1.6 times wider than tall in all.
 */
function autoLayout(def: WorkflowDefinition): Map<string, { x: number; y: number }> {
  const graph = stepEdges(def); // entries and outgoing edges: the loops (components) are not needed here
  const depth = new Map<string, number>();
  const queue: Array<[string, number]> = graph.entries.map((id) => [id, 0]);
  for (const [id, d] of queue) depth.set(id, d);
  for (let next = 0; next < queue.length; next++) {
    const [id, d] = queue[next];
    for (const edge of graph.outgoing.get(id) ?? [])
      if (!depth.has(edge.to)) {
        depth.set(edge.to, d + 1);
        queue.push([edge.to, d + 1]);
      }
  }
  const perRow = new Map<number, number>();
  let levels = 1;
  let widest = 1;
  for (const step of def.steps) {
    const d = depth.get(step.id) ?? 0;
    const count = (perRow.get(d) ?? 0) + 1;
    perRow.set(d, count);
    levels = Math.max(levels, d + 1);
    widest = Math.max(widest, count);
  }
  const bandWidth = widest * COLUMN + BAND_GAP;
  const levelsPerBand = levels <= LEVELS_UNFOLDED ? levels : Math.max(LEVELS_UNFOLDED, Math.ceil(Math.sqrt((levels * bandWidth) / (FOLDED_ASPECT * ROW))));
  const placed = new Map<number, number>();
  const positions = new Map<string, { x: number; y: number }>();
  for (const step of def.steps) {
    const d = depth.get(step.id) ?? 0;
    const column = placed.get(d) ?? 0;
    placed.set(d, column + 1);
    positions.set(step.id, { x: Math.floor(d / levelsPerBand) * bandWidth + column * COLUMN, y: (d % levelsPerBand) * ROW });
  }
  return positions;
}

export function definitionToCanvas(def: WorkflowDefinition): { nodes: CanvasNode[]; edges: CanvasEdge[] } {
  const layout = def.steps.some((s) => !s.position) ? autoLayout(def) : undefined;
  const nodes = def.steps.map((step) => ({
    id: step.id,
    type: "step" as const,
    position: step.position ?? layout!.get(step.id)!,
    data: {
      type: step.type,
      config: step.config ?? {},
      ...Object.fromEntries(STEP_EXTRAS.filter((key) => step[key] !== undefined).map((key) => [key, step[key]])),
    },
  }));
  const edges = effectiveEdges(def).map((e) => ({
    id: edgeId(e),
    source: e.from,
    target: e.to,
    sourceHandle: e.when ?? null,
    ...(e.when ? { label: e.when } : {}),
  }));
  return { nodes, edges };
}

export function canvasToDefinition(meta: WorkflowMeta, nodes: CanvasNode[], edges: CanvasEdge[]): WorkflowDefinition {
  const steps: WorkflowStep[] = nodes.map((node) => ({
    id: node.id,
    type: node.data.type,
    ...(node.data.name ? { name: node.data.name } : {}),
    config: node.data.config ?? {},
    ...(node.data.assign && Object.keys(node.data.assign).length ? { assign: node.data.assign } : {}),
    ...(node.data.retry ? { retry: node.data.retry } : {}),
    ...(node.data.timeoutMs ? { timeoutMs: node.data.timeoutMs } : {}),
    ...(node.data.onError && node.data.onError !== "fail" ? { onError: node.data.onError } : {}),
    ...(node.data.outputSchema ? { outputSchema: node.data.outputSchema } : {}),
    position: { x: Math.round(node.position.x), y: Math.round(node.position.y) },
  }));
  const workflowEdges: WorkflowEdge[] = edges.map((e) => ({
    from: e.source,
    to: e.target,
    ...(e.sourceHandle && WHEN_HANDLES.has(e.sourceHandle) ? { when: e.sourceHandle as WorkflowEdge["when"] } : {}),
  }));
  return { ...meta, schemaVersion: 1, steps, edges: workflowEdges };
}

/** A step id not used yet, derived from the kind (`llm_1`, `llm_2` …). */
export function nextStepId(kind: string, taken: Iterable<string>): string {
  const used = new Set(taken);
  for (let i = 1; ; i++) if (!used.has(`${kind}_${i}`)) return `${kind}_${i}`;
}
