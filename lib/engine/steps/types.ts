import type { StepKindName } from "@/lib/workflow/step-kinds";

/** Settings a step may need at run time (resolved by the runner from env and the settings table). */
export interface RuntimeSettings {
  llmGatewayUrl?: string;
  llmApiKey?: string;
}

/** What an executor gets besides its rendered config. Executors never write run state themselves. */
export interface StepContext {
  runId: string;
  stepId: string;
  /** Aborted when the run is cancelled or times out; pass it to every outbound request. */
  signal: AbortSignal;
  settings: RuntimeSettings;
  /** Streams a piece of generated text (LLM tokens) to the live run view. */
  emitToken(text: string): void;
  /** Evaluates an expression (e.g. a condition's) against `input`, `steps` and `vars` of the run. */
  evaluate(expression: string): Promise<unknown>;
}

/** A server executor: takes the step's config with every template already evaluated, returns its output. */
export type StepExecutor = (config: Record<string, unknown>, ctx: StepContext) => Promise<unknown>;

export type ExecutorRegistry = Record<StepKindName, StepExecutor>;
