import { StepError } from "../errors";

/**
 * A numeric config field after templates were rendered (`"{{ input.t }}"` may yield a number or text):
 * undefined when unset or blank, else a finite number, else a StepError naming the step, the field and the value.
 */
export function configNumber(value: unknown, field: string, stepId: string, options: { positive?: boolean } = {}): number | undefined {
  if (value === undefined || value === null || (typeof value === "string" && value.trim() === "")) return undefined;
  const n = typeof value === "number" || typeof value === "string" ? Number(value) : NaN;
  if (!Number.isFinite(n) || (options.positive && n <= 0))
    throw new StepError("STEP_FAILED", `step "${stepId}" field "config.${field}" must be a ${options.positive ? "positive " : ""}number, got ${JSON.stringify(value)}`, { stepId });
  return n;
}

/**
 * The model a step calls: its own `model`, else the default model (Settings / LLM_DEFAULT_MODEL), so a step
 * without one runs on whatever gateway is configured and is priced under the model it actually used.
 */
export function stepModel(config: Record<string, unknown>, settings: { defaultModel?: string }, stepId: string): string {
  const model = typeof config.model === "string" && config.model.trim() ? config.model.trim() : settings.defaultModel;
  if (!model)
    throw new StepError("LLM_NOT_CONFIGURED", `step "${stepId}" names no model and no default model is set: set the step's model, or a default model on the Settings page (or LLM_DEFAULT_MODEL)`, { stepId });
  return model;
}
