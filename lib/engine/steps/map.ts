import type { WorkflowStep } from "@/lib/workflow/schema";
import { StepError } from "../errors";
import type { StepExecutor } from "./types";

const DEFAULT_CONCURRENCY = 4;

/** Runs `steps` for each element of `items` (see lib/engine/map.ts); the output is the list of item results. */
export const mapExecutor: StepExecutor = async (config, ctx) => {
  const items = config.items;
  if (!Array.isArray(items))
    throw new StepError("INVALID_INPUT", `step "${ctx.stepId}" field "items" must give a list, got ${items === null ? "null" : typeof items}`, { stepId: ctx.stepId });
  const concurrency = Number(config.concurrency ?? DEFAULT_CONCURRENCY);
  return ctx.runMap({ items, concurrency, steps: config.steps as WorkflowStep[] });
};
