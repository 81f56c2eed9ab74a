import { approvalExecutor } from "./approval";
import { codeExecutor } from "./code";
import { waitWebhookExecutor } from "./wait-webhook";
import { kiloExecutor } from "./kilo";
import { mapExecutor } from "./map";
import { workflowExecutor } from "./workflow";
import { conditionExecutor } from "./condition";
import { transformExecutor } from "./transform";
import type { ExecutorRegistry, StepExecutor } from "./types";

/**
 * An executor whose module is imported the first time a step of its kind runs: the OpenAI client (llm) and
 * undici (http) take a fifth of a second to load, which a CLI run of transform steps should not pay.
 */
function loadedOnFirstUse(load: () => Promise<StepExecutor>): StepExecutor {
  let loading: Promise<StepExecutor> | undefined;
  return async (config, ctx) => (await (loading ??= load().catch((err) => ((loading = undefined), Promise.reject(err)))))(config, ctx);
}

/** Server executors, keyed by the step kinds of lib/workflow/step-kinds.ts (the compiler checks it is complete). */
export const executors: ExecutorRegistry = {
  llm: loadedOnFirstUse(async () => (await import("./llm")).llmExecutor),
  transform: transformExecutor,
  condition: conditionExecutor,
  approval: approvalExecutor,
  http: loadedOnFirstUse(async () => (await import("./http")).httpExecutor),
  code: codeExecutor,
  wait_webhook: waitWebhookExecutor,
  workflow: workflowExecutor,
  map: mapExecutor,
  kilo: kiloExecutor,
};
