import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import next from "next";
import { Redis } from "ioredis";
import { CLIENT_IP_HEADER } from "@/lib/auth/auth";
import { attachRealtime } from "@/lib/realtime/server";
import { getRuntime, shutdownRuntime } from "@/lib/runtime";
import { fireDeps } from "@/lib/schedules/deps";
import { scheduleConfig } from "@/lib/schedules/config";
import { InlineScheduler } from "@/lib/schedules/inline";
import { logger } from "@/lib/logger";
import { metrics } from "@/lib/observability/metrics";
import { createRequestGuard } from "@/lib/net/http-guard";
import { pruneByRetention } from "@/lib/runner/retention";
import { serveHook } from "@/lib/webhooks/http";
import { executionMode, queueConfig } from "@/lib/queue/config";
import { realtimeKey } from "@/lib/realtime/redis";

/**
 * One process: Next.js pages and server actions, Socket.IO, and the run queue — or, with EXECUTION_MODE=queue, the
 * web process of web + workers (worker.ts): runs are stored and handed to BullMQ.
 */
async function main() {
  process.env.NEXT_TELEMETRY_DISABLED ??= "1";
  const dev = process.env.NODE_ENV !== "production";
  const port = Number(process.env.PORT ?? 3000);
  const hostname = process.env.HOST ?? "127.0.0.1";

  const mode = executionMode(); // EXECUTION_MODE=queue also needs DATABASE_URL (Postgres) and REDIS_URL: checked here
  const queue = mode === "queue" ? queueConfig() : undefined;
  // Allowed hosts and rate limits, read once: a malformed setting stops the start naming its variable. In queue mode
  // the limits are counted in Redis, so they hold across every web process.
  const rateRedis = queue && new Redis(queue.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 0, connectionName: `${queue.prefix}:rate-limits` });
  rateRedis?.on("error", (err) => logger.debug({ err }, "redis (rate limits)"));
  const guard = createRequestGuard(process.env, rateRedis && { redis: rateRedis, prefix: queue.prefix });
  scheduleConfig(); // a malformed ORCHESTRATOR_SCHEDULE_* setting stops the start naming its variable
  const app = next({ dev, hostname, port });
  const handle = app.getRequestHandler();
  await app.prepare();

  // First the Host and the rate limits (lib/net/http-guard.ts); then webhook triggers are answered here, before
  // Next (see lib/webhooks/http.ts); everything else is Next's.
  const serve = (req: IncomingMessage, res: ServerResponse) => {
    // The client's address for the sign-in rate limit (the same key as the guard's limits: the socket's address, or
    // the one the trusted proxies saw): a header the client sent is replaced.
    req.headers[CLIENT_IP_HEADER] = guard.clientKey(req);
    if (!serveHook(req, res, () => getRuntime())) void handle(req, res);
  };
  const httpServer = createServer((req, res) => {
    const allowed = guard.check(req, res);
    if (allowed === true) serve(req, res);
    else if (allowed !== false)
      allowed.then(
        (go) => go && serve(req, res),
        (err) => {
          logger.error({ err }, "rate limit check failed");
          serve(req, res);
        },
      );
  });
  metrics(); // this process records Prometheus metrics for GET /metrics (lib/observability)
  // Queue mode: workers' run events and tokens arrive through Redis (Socket.IO's Redis adapter), live.
  const redis = queue && { url: queue.redisUrl, key: realtimeKey(queue.prefix) };
  const { io, publisher } = attachRealtime(httpServer, () => getRuntime(), { allowRequest: guard.allowRealtime, redis });
  const runtime = await getRuntime({ publisher }); // migrates the database on first start

  // Listen before touching runs left by a stopped process: a run that kills its process must not keep the
  // server from answering (and one that keeps doing it ends CRASH_LOOP instead of being resumed).
  await new Promise<void>((resolve, reject) => {
    httpServer.once("error", reject).listen(port, hostname, () => {
      httpServer.off("error", reject);
      resolve();
    });
  });
  console.log(`LLM orchestrator ready on http://${hostname}:${port}`);
  if (["0.0.0.0", "::"].includes(hostname) && guard.hosts.length <= 3)
    logger.warn(
      { hosts: guard.hosts.map((h) => h.hostname) },
      "listening on every interface but answering only to loopback names: add the names clients use to ORCHESTRATOR_ALLOWED_HOSTS (or set ORCHESTRATOR_PUBLIC_URL), or they get 421",
    );

  // Runs whose process died (expired lease) continue here from their last checkpoint, now and whenever a
  // peer process stops renewing its leases.
  const resumeOrphans = async () => {
    try {
      const { resumed, crashLooped } = await runtime.runner.resumeOrphans();
      if (resumed.length) logger.info({ runs: resumed }, "resumed runs left by a stopped process");
      if (crashLooped.length)
        logger.error({ runs: crashLooped }, "runs whose process kept stopping failed with CRASH_LOOP (force one with: orchestrator resume <runId>)");
    } catch (err) {
      logger.error({ err }, "resuming runs failed");
    }
  };
  // In queue mode the workers do this: their reconciler enqueues runs no process holds.
  if (mode === "inline") {
    void resumeOrphans();
    setInterval(() => void resumeOrphans(), 10_000).unref();
  }
  // Schedules: fired here in one-process mode; in queue mode by the workers (BullMQ job schedulers).
  const scheduler = mode === "inline" ? new InlineScheduler(fireDeps(runtime), { pollMs: scheduleConfig().pollMs }).start() : undefined;

  // Checkpoint retention (Settings or ORCHESTRATOR_CHECKPOINT_RETENTION_DAYS), read afresh each time.
  const prune = () =>
    pruneByRetention(runtime.db, runtime.checkpointer)
      .then(({ runs, days }) => runs && logger.info({ runs, keepDays: days }, "pruned checkpoint history of old runs"))
      .catch((err) => logger.error({ err }, "checkpoint retention failed"));
  void prune();
  setInterval(() => void prune(), 3_600_000).unref();

  const stop = async () => {
    await scheduler?.stop();
    io.close();
    httpServer.close();
    await shutdownRuntime();
    process.exit(0);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

main().catch((err) => {
  logger.error({ err }, "server failed to start");
  console.error(`server failed to start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
