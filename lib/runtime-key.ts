/** Where the process-wide runtime lives on globalThis (shared by server.ts and Next's separately bundled code). */
export const RUNTIME_KEY = Symbol.for("llm-orchestrator.runtime");
