import type { ExpressionContext } from "./expression";
import type { WorkflowDefinition, WorkflowStep } from "./schema";

/**
 * "Estimate cost" before a run: the prompts of the LLM steps rendered with the run input (outputs of earlier
 * steps are not known yet and count as empty), tokens approximated as characters / 4, completions as each
 * step's maxTokens (or 256), priced per model. Map steps count once per item when their items come from the
 * input (the first MAX_SAMPLED_ITEMS rendered, the rest counted like them). Loops and branches are counted once:
 * it is an estimate, shown as such. Templates are rendered by `render` (the engine's bounded evaluation).
 */
export interface CostEstimate {
  calls: number;
  promptTokens: number;
  completionTokens: number;
  /** null when no called model has a price */
  costUsd: number | null;
  unpricedModels: string[];
}

type Price = { inputPerMillion: number; outputPerMillion: number };

const DEFAULT_COMPLETION_TOKENS = 256;
const MAX_SAMPLED_ITEMS = 100;

/** Renders every template in a config value against a context; throws when one fails. */
export type RenderTemplates = (value: unknown, context: ExpressionContext) => Promise<unknown>;
const tokensOf = (text: string) => Math.ceil(text.length / 4);

export async function estimateCost(
  definition: WorkflowDefinition,
  input: unknown,
  priceOf: (model: string) => Price | undefined,
  render: RenderTemplates,
  defaultModel?: string,
): Promise<CostEstimate> {
  const estimate: CostEstimate = { calls: 0, promptTokens: 0, completionTokens: 0, costUsd: null, unpricedModels: [] };
  const context: ExpressionContext = { input: input ?? {}, steps: {}, vars: definition.vars ?? {} };

  const addStep = async (step: WorkflowStep, times: number, scope: ExpressionContext) => {
    if (step.type !== "llm" || times === 0) return;
    const renderText = async (value: unknown): Promise<string> => {
      try {
        const rendered = await render(value, scope);
        return typeof rendered === "string" ? rendered : JSON.stringify(rendered ?? "");
      } catch {
        return typeof value === "string" ? value : JSON.stringify(value ?? "");
      }
    };
    const config = step.config as Record<string, unknown>;
    const texts = [await renderText(config.system ?? ""), await renderText(config.prompt ?? ""), await renderText(config.messages ?? "")];
    const prompt = texts.reduce((n, t) => n + tokensOf(t), 0);
    const completion = Number(config.maxTokens) > 0 ? Number(config.maxTokens) : DEFAULT_COMPLETION_TOKENS;
    const model = String((await renderText(config.model ?? "")) || defaultModel || "");
    estimate.calls += times;
    estimate.promptTokens += prompt * times;
    estimate.completionTokens += completion * times;
    const price = priceOf(model);
    if (!price) {
      if (!estimate.unpricedModels.includes(model)) estimate.unpricedModels.push(model);
      return;
    }
    estimate.costUsd = (estimate.costUsd ?? 0) + ((prompt * price.inputPerMillion + completion * price.outputPerMillion) * times) / 1_000_000;
  };

  for (const step of definition.steps) {
    if (step.type === "map") {
      const config = step.config as { items?: unknown; steps?: WorkflowStep[] };
      let items: unknown = config.items;
      try {
        items = await render(items, context);
      } catch {
        items = undefined;
      }
      const list = Array.isArray(items) ? items : [undefined];
      const sampled = list.slice(0, MAX_SAMPLED_ITEMS);
      const times = list.length / sampled.length;
      for (const [index, item] of sampled.entries()) for (const inner of config.steps ?? []) await addStep(inner, times, { ...context, item, index });
    } else await addStep(step, 1, context);
  }
  // Map items beyond the sample count like the sampled ones: whole numbers are what is shown.
  estimate.calls = Math.round(estimate.calls);
  estimate.promptTokens = Math.round(estimate.promptTokens);
  estimate.completionTokens = Math.round(estimate.completionTokens);
  return estimate;
}
