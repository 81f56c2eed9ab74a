import { serverRuntime } from "@/app/_server/runtime";
import { logger } from "@/lib/logger";

export const dynamic = "force-dynamic";

const REDIS_TIMEOUT_MS = 2_000;

/**
 * GET /api/health: whether this process answers, how runs execute (`mode`), how many wait for a slot
 * (`queueDepth`: BullMQ's waiting + delayed jobs in queue mode, this process's own queue inline) and how many
 * workers are connected (`workers`; 0 inline, where this process executes its runs itself). Open to anyone (load
 * balancers, probes): it shows counts only. 503 when queue mode cannot reach Redis.
 */
export async function GET() {
  const runtime = await serverRuntime();
  const headers = { "cache-control": "no-store" };
  if (!runtime.queue) return Response.json({ status: "ok", mode: "inline", queueDepth: runtime.runner.localQueueSize.waiting, workers: 0 }, { headers });
  const queue = runtime.queue;
  try {
    const [queueDepth, workers] = await withTimeout(Promise.all([queue.depth(), queue.workers()]), REDIS_TIMEOUT_MS);
    return Response.json({ status: "ok", mode: "queue", queueDepth, workers }, { headers });
  } catch (err) {
    logger.warn({ err }, "health: the run queue (Redis) did not answer");
    return Response.json({ status: "degraded", mode: "queue", queueDepth: null, workers: null, error: "the run queue (Redis) does not answer" }, { status: 503, headers });
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
