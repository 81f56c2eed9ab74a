import type { StepNodeData } from "@/lib/workflow/canvas";
import { getStepKind } from "@/lib/workflow/step-kinds";

/**
 * The size StepNode lays out with (w-52 and border-2 around a row of 47 px; a routing kind adds its true/false row
 * of 16 px), given to React Flow as `measured` for nodes loaded from a definition. When it is right, measuring
 * the rendered nodes changes nothing: no size change for every node (a store update and a render of all nodes
 * again) when a large workflow opens. When it is not (other fonts, a problem shown on the node), React Flow's
 * measurement replaces it as before. Keep in step with StepNode.tsx.
 */
export const STEP_NODE_WIDTH = 208;
const STEP_NODE_HEIGHT = 51;
const ROUTES_ROW_HEIGHT = 16;

export function stepNodeSize(data: Pick<StepNodeData, "type">): { width: number; height: number } {
  return { width: STEP_NODE_WIDTH, height: STEP_NODE_HEIGHT + (getStepKind(data.type)?.routes ? ROUTES_ROW_HEIGHT : 0) };
}
