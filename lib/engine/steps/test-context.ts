import type { StepContext } from "./types";

/**
 * A step context for executor tests: what the engine hands an executor, with the log, tokens and usage
 * collected for assertions. Tests of our executors call them directly against real loopback servers.
 */
export function testStepContext(overrides: Partial<StepContext> = {}) {
  const logs: Array<{ level: string; text: string }> = [];
  const tokens: string[] = [];
  const usage: Array<Parameters<StepContext["reportUsage"]>[0]> = [];
  const ctx: StepContext = {
    runId: `run_test_${Math.random().toString(36).slice(2)}`,
    execution: 1,
    stepId: "step",
    signal: new AbortController().signal,
    settings: {},
    emitToken: (text) => void tokens.push(text),
    evaluate: async () => undefined,
    data: { input: {}, steps: {}, vars: {} },
    log: (level, text) => void logs.push({ level, text }),
    reportUsage: (u) => void usage.push(u),
    runMap: async () => {
      throw new Error("map steps run inside the engine");
    },
    runWorkflow: async () => {
      throw new Error("sub-workflows run inside the runner");
    },
    ...overrides,
  };
  return { ctx, logs, tokens, usage };
}
