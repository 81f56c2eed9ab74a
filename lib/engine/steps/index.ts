import { approvalExecutor } from "./approval";
import { codeExecutor } from "./code";
import { httpExecutor } from "./http";
import { waitWebhookExecutor } from "./wait-webhook";
import { kiloExecutor } from "./kilo";
import { mapExecutor } from "./map";
import { workflowExecutor } from "./workflow";
import { conditionExecutor } from "./condition";
import { llmExecutor } from "./llm";
import { transformExecutor } from "./transform";
import type { ExecutorRegistry } from "./types";

/** Server executors, keyed by the step kinds of lib/workflow/step-kinds.ts (the compiler checks it is complete). */
export const executors: ExecutorRegistry = {
  llm: llmExecutor,
  transform: transformExecutor,
  condition: conditionExecutor,
  approval: approvalExecutor,
  http: httpExecutor,
  code: codeExecutor,
  wait_webhook: waitWebhookExecutor,
  workflow: workflowExecutor,
  map: mapExecutor,
  kilo: kiloExecutor,
};
