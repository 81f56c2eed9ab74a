import "server-only";
import type { Runtime } from "@/lib/runtime";
import { RUNTIME_KEY } from "@/lib/runtime-key";

/**
 * The runtime server.ts started (database, runner, user). Pages and actions only look it up: bundling the
 * runner into Next's output would create a second runner and database client.
 */
export function serverRuntime(): Promise<Runtime> {
  const runtime = (globalThis as { [RUNTIME_KEY]?: Promise<Runtime> })[RUNTIME_KEY];
  if (!runtime) throw new Error("The orchestrator runtime is not started: run the app with `npm start` (server.ts), not `next start`.");
  return runtime;
}
