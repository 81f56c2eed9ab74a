import type { Db } from "@/lib/db";
import type { SerializedError } from "@/lib/engine/errors";
import type { RunStatus } from "@/lib/runner/event-types";
import type { RunResult } from "@/lib/runner/run";
import type { Runner } from "@/lib/runner/runner";

/** Where `?wait=true` stops waiting: the run ended, or waits for someone (an approval, a callback). */
export const SETTLED: RunStatus[] = ["succeeded", "failed", "cancelled", "waiting"];

const POLL_MS = 200;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A run's result once it ends or waits, or null when `timeoutMs` passes first (`?wait=true`, as the webhook's).
 * A run executing here is awaited; one executing in another process (taken over, a worker) is read from the
 * database until it settles.
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
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const run = await deps.db.run.findUnique({ where: { id: runId }, select: { status: true, outputs: true, error: true } });
    if (!run) return null;
    if (SETTLED.includes(run.status as RunStatus)) {
      const error = run.error ? (JSON.parse(run.error) as SerializedError) : undefined;
      return { runId, status: run.status as RunStatus, outputs: run.outputs ? JSON.parse(run.outputs) : {}, ...(error ? { error } : {}) };
    }
    if (Date.now() >= deadline) return null;
    await sleep(Math.min(POLL_MS, Math.max(deadline - Date.now(), 0)));
  }
}
