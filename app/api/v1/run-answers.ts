import "server-only";
import { DEFAULT_WAIT_MS } from "@/lib/api/v1-schemas";
import { runResultWithin } from "@/lib/api/wait";
import type { Db } from "@/lib/db";
import type { Runner } from "@/lib/runner/runner";
import { accepted, ok, type Reply } from "./v1-route";

/**
 * The answer once a run was started, resumed or decided: 202 `{ runId, status: "queued" }`, or with `?wait=true`
 * the result when it ends or waits (200), or 202 with its status when `timeout` passes first (as the webhook's).
 */
export async function afterStart(context: { db: Db; runner: Runner; query: { wait?: boolean; timeout?: number } }, runId: string): Promise<Reply> {
  if (!context.query.wait) return accepted({ runId, status: "queued" });
  const timeoutMs = context.query.timeout ?? DEFAULT_WAIT_MS;
  const result = await runResultWithin(context, runId, timeoutMs);
  if (result) return ok(result);
  const run = await context.db.run.findUnique({ where: { id: runId }, select: { status: true } });
  return accepted({ runId, status: run?.status ?? "running", message: `the run is still going after ${timeoutMs} ms; follow it with GET /api/v1/runs/${runId}/events` });
}
