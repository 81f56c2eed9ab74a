import { conditionExecutor } from "./condition";
import { llmExecutor } from "./llm";
import { transformExecutor } from "./transform";
import type { ExecutorRegistry } from "./types";

/** Server executors, keyed by the step kinds of lib/workflow/step-kinds.ts (the compiler checks it is complete). */
export const executors: ExecutorRegistry = {
  llm: llmExecutor,
  transform: transformExecutor,
  condition: conditionExecutor,
};
