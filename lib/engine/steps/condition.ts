import type { StepExecutor } from "./types";

/** Evaluates the expression (errors name the step and field); a non-boolean result is coerced the JSONata way ($boolean). */
export const conditionExecutor: StepExecutor = async (config, ctx) => ({ result: toBoolean(await ctx.evaluate(String(config.expression))) });

function toBoolean(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(toBoolean);
  if (value && typeof value === "object") return Object.keys(value).length > 0;
  return Boolean(value);
}
