import { getRuntime, shutdownRuntime } from "@/lib/runtime";
import { fireDeps } from "@/lib/schedules/deps";
import { startScheduleWorker } from "@/lib/queue/schedules";
import { logger } from "@/lib/logger";
import { metrics } from "@/lib/observability/metrics";
import { startRunWorker } from "@/lib/queue/bullmq";
import { executionMode, queueConfig } from "@/lib/queue/config";
import { realtimeKey, redisRunPublisher } from "@/lib/realtime/redis";

/**
 * A queue-mode worker (`npm run worker`): takes runs from BullMQ and executes them with the same runner as the
 * one-process server, run state and checkpoints in Postgres. Live events and tokens go to the web processes through
 * Redis as they happen (Socket.IO's Redis emitter, lib/realtime/redis.ts); the event log stays the truth they catch
 * up from.
 */
async function main() {
  if (executionMode() !== "queue") {
    console.error("npm run worker needs EXECUTION_MODE=queue, with DATABASE_URL=postgresql://… and REDIS_URL=redis://… (see README, Queue mode)");
    process.exit(2);
  }
  metrics();
  const config = queueConfig(); // checks the queue settings first
  const publisher = redisRunPublisher(config.redisUrl, realtimeKey(config.prefix));
  const runtime = await getRuntime({ publisher }); // migrates the database on first start
  const worker = startRunWorker(runtime.runner, runtime.queue!);
  const scheduleWorker = startScheduleWorker(fireDeps(runtime), runtime.schedules!);
  console.log(`LLM orchestrator worker ${worker.name} ready (concurrency ${runtime.queue!.config.concurrency}, process ${runtime.runner.processId})`);

  const stop = async () => {
    // Stop taking jobs, let the runs executing here finish (their leases stay renewed meanwhile), then close.
    await scheduleWorker.close();
    await worker.close();
    await shutdownRuntime();
    publisher.close();
    process.exit(0);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

main().catch((err) => {
  const message = err instanceof Error ? err.message : String(err);
  logger.error({ err }, "worker failed to start");
  console.error(`worker failed to start: ${message}`);
  process.exit(1);
});
