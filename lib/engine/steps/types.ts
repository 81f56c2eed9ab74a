import type { ModelGate } from "@/lib/governor/model-gate";
import type { AllowList } from "@/lib/net/address-policy";
import type { PriceTable } from "@/lib/pricing";
import type { WorkflowStep } from "@/lib/workflow/schema";
import type { StepKindName } from "@/lib/workflow/step-kinds";

/** Settings a step may need at run time (resolved by the runner from env and the settings table). */
export interface RuntimeSettings {
  llmGatewayUrl?: string;
  llmApiKey?: string;
  /** Addresses outbound HTTP may reach despite the SSRF policy (ORCHESTRATOR_HTTP_ALLOW + Settings). */
  httpAllow?: AllowList;
  /** The model of llm steps that name none (Settings / LLM_DEFAULT_MODEL). */
  defaultModel?: string;
  /** Model prices for costUsd (defaults + Settings). */
  prices?: PriceTable;
}

/** What an executor gets besides its rendered config. Executors never write run state themselves. */
export interface StepContext {
  runId: string;
  stepId: string;
  /** 1-based count of this step's executions in the run (loops run a step more than once). */
  execution: number;
  /** Aborted when the run is cancelled or times out; pass it to every outbound request. */
  signal: AbortSignal;
  settings: RuntimeSettings;
  /** Streams a piece of generated text (LLM tokens) to the live run view. */
  emitToken(text: string): void;
  /**
   * Evaluates an expression (e.g. a condition's) against `input`, `steps` and `vars` of the run, within the
   * expression limits; failures are StepErrors naming the step and `field` (default `config.expression`).
   */
  evaluate(expression: string, field?: string): Promise<unknown>;
  /** The run's data as templates see it: `input`, every step's latest output (`steps`) and `vars`. */
  data: { input: unknown; steps: Record<string, unknown>; vars: Record<string, unknown>; item?: unknown; index?: number };
  /** Runs a saved workflow as this step's child run and waits for its end (the `workflow` kind). */
  runWorkflow(request: { workflowId: string; version?: number; input?: unknown }): Promise<{
    runId: string;
    status: string;
    outputs: Record<string, unknown>;
    error?: { code: string; message: string; stepId?: string };
  }>;
  /** Reports the tokens of one model call (the runner prices them and adds them to the step and the run). */
  reportUsage(usage: { model: string; promptTokens: number; completionTokens: number }): void;
  /** Runs a chain of steps for each item (the `map` kind), at most `concurrency` at once; results in item order. */
  runMap(request: { items: unknown[]; concurrency: number; steps: WorkflowStep[] }): Promise<unknown[]>;
  /**
   * Governs each model call (budget caps, the governor's rate limits, 429 pauses): pass calls through
   * `governedModelCall`. Absent when an executor runs outside the runner.
   */
  modelGate?: ModelGate;
  /** Adds a line to the step's log (shown on the run page, stored with the run's events). */
  log(level: string, text: string): void;
}

/** A server executor: takes the step's config with every template already evaluated, returns its output. */
export type StepExecutor = (config: Record<string, unknown>, ctx: StepContext) => Promise<unknown>;

export type ExecutorRegistry = Record<StepKindName, StepExecutor>;
