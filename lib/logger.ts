import { AsyncLocalStorage } from "node:async_hooks";
import pino from "pino";

/** The fields every log line written while a run (and within it a step) executes carries. */
export interface LogFields {
  runId: string;
  stepId?: string;
}

// One store per process, on globalThis: Next's bundle and server.ts each load their own copy of this module, and a
// line written by either copy during a run must carry the run's fields.
const STORE_KEY = Symbol.for("orchestrator.logFields");
const holder = globalThis as { [STORE_KEY]?: AsyncLocalStorage<LogFields> };
const fieldsStore = (holder[STORE_KEY] ??= new AsyncLocalStorage<LogFields>());

/**
 * Structured logs (JSON lines); LOG_LEVEL env, default info. Lines written inside `withLogFields` (the runner
 * wraps each run and each step in it) get `runId` and `stepId` without their writers passing them.
 */
export const logger = pino({
  level: process.env.LOG_LEVEL ?? "info",
  base: undefined,
  mixin: () => fieldsStore.getStore() ?? {},
});

/** Runs `fn` with `fields` on every line logged inside it (across awaits); they replace the enclosing ones. */
export function withLogFields<T>(fields: LogFields, fn: () => T): T {
  return fieldsStore.run(fields, fn);
}

/** The fields of the run or step executing here, if any. */
export function currentLogFields(): LogFields | undefined {
  return fieldsStore.getStore();
}
