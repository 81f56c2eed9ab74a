import { StepError } from "../errors";
import type { StepExecutor } from "./types";

/** Evaluates the expression; a non-boolean result is coerced the JSONata way ($boolean). */
export const conditionExecutor: StepExecutor = async (config, ctx) => {
  const expression = String(config.expression);
  let value: unknown;
  try {
    value = await ctx.evaluate(expression);
  } catch (err) {
    throw new StepError("TEMPLATE_ERROR", (err as Error).message, { stepId: ctx.stepId });
  }
  return { result: toBoolean(value) };
};

function toBoolean(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(toBoolean);
  if (value && typeof value === "object") return Object.keys(value).length > 0;
  return Boolean(value);
}
