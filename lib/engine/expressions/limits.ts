import { maxJsonDepth, MAX_JSON_DEPTH_ENV } from "@/lib/workflow/limits";
import type { BoundedLimits, BoundKind } from "./bounded.mjs";

/**
 * The bounds of every template, condition and `assign` evaluation (README "Limits"). Each can be raised or
 * lowered by its environment variable; a missing or invalid value means the default.
 */
export interface ExpressionLimits extends BoundedLimits {
  /** Heap of each expression worker thread, in MB. */
  memoryMb: number;
  /** How many expression worker threads evaluate what does not fit in line. */
  workers: number;
}

const SETTINGS: Record<Exclude<keyof ExpressionLimits, "maxNesting">, { env: string; fallback: number }> = {
  timeoutMs: { env: "ORCHESTRATOR_EXPRESSION_TIMEOUT_MS", fallback: 1000 },
  maxDepth: { env: "ORCHESTRATOR_EXPRESSION_MAX_DEPTH", fallback: 1000 },
  maxBytes: { env: "ORCHESTRATOR_EXPRESSION_MAX_BYTES", fallback: 5 * 1024 * 1024 },
  maxItems: { env: "ORCHESTRATOR_EXPRESSION_MAX_ITEMS", fallback: 1_000_000 },
  memoryMb: { env: "ORCHESTRATOR_EXPRESSION_MEMORY_MB", fallback: 256 },
  workers: { env: "ORCHESTRATOR_EXPRESSION_WORKERS", fallback: 2 },
};

export function expressionLimits(env: NodeJS.ProcessEnv = process.env): ExpressionLimits {
  // Values built by expressions are stored and sent like JSON from outside: the same nesting limit holds.
  const limits = { maxNesting: maxJsonDepth() } as ExpressionLimits;
  for (const [name, { env: variable, fallback }] of Object.entries(SETTINGS)) {
    const value = Number(env[variable]);
    limits[name as keyof typeof SETTINGS] = Number.isInteger(value) && value > 0 ? value : fallback;
  }
  return limits;
}

/** The environment variable that raises the limit an evaluation crossed. */
export const LIMIT_VARIABLE: Record<BoundKind, string> = {
  time: SETTINGS.timeoutMs.env,
  depth: SETTINGS.maxDepth.env,
  bytes: SETTINGS.maxBytes.env,
  items: SETTINGS.maxItems.env,
  nesting: MAX_JSON_DEPTH_ENV,
  memory: SETTINGS.memoryMb.env,
};
