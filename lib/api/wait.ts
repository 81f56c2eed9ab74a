import type { Db } from "@/lib/db";
import type { RunResult } from "@/lib/runner/run";
import type { Runner } from "@/lib/runner/runner";

/**
 * A run's result once it ends or waits for someone (an approval, a callback), or null when `timeoutMs` passes
 * first (`?wait=true`, as the webhook's). A run executing here is awaited; one executing in another process (a
 * worker, a takeover) is read from the database when that process announces its end (queue mode) or at the next poll.
 */
export async function runResultWithin(deps: { db: Db; runner: Runner }, runId: string, timeoutMs: number): Promise<RunResult | null> {
  if (deps.runner.holds(runId)) {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), timeoutMs)));
    try {
      return await Promise.race([deps.runner.waitForRun(runId), timeout]);
    } finally {
      clearTimeout(timer); // under load, many waits would otherwise each leave a timer behind
    }
  }
  return deps.runner.settledElsewhere(runId, timeoutMs);
}
