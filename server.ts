import { createServer } from "node:http";
import next from "next";
import { CLIENT_IP_HEADER } from "@/lib/auth/auth";
import { attachRealtime } from "@/lib/realtime/server";
import { getRuntime, shutdownRuntime } from "@/lib/runtime";
import { logger } from "@/lib/logger";
import { pruneByRetention } from "@/lib/runner/retention";
import { serveHook } from "@/lib/webhooks/http";

/** One process: Next.js pages and server actions, Socket.IO, and the run queue. */
async function main() {
  process.env.NEXT_TELEMETRY_DISABLED ??= "1";
  const dev = process.env.NODE_ENV !== "production";
  const port = Number(process.env.PORT ?? 3000);
  const hostname = process.env.HOST ?? "127.0.0.1";

  const app = next({ dev, hostname, port });
  const handle = app.getRequestHandler();
  await app.prepare();

  // Webhook triggers are answered here, before Next (see lib/webhooks/http.ts); everything else is Next's.
  const httpServer = createServer((req, res) => {
    // The client's address for the sign-in rate limit, from the socket: a header the client sent is replaced.
    req.headers[CLIENT_IP_HEADER] = req.socket.remoteAddress ?? "unknown";
    if (!serveHook(req, res, () => getRuntime())) void handle(req, res);
  });
  const { io, publisher } = attachRealtime(httpServer, () => getRuntime());
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
  void resumeOrphans();
  setInterval(() => void resumeOrphans(), 10_000).unref();

  // Checkpoint retention (Settings or ORCHESTRATOR_CHECKPOINT_RETENTION_DAYS), read afresh each time.
  const prune = () =>
    pruneByRetention(runtime.db, runtime.checkpointer)
      .then(({ runs, days }) => runs && logger.info({ runs, keepDays: days }, "pruned checkpoint history of old runs"))
      .catch((err) => logger.error({ err }, "checkpoint retention failed"));
  void prune();
  setInterval(() => void prune(), 3_600_000).unref();

  const stop = async () => {
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
  process.exit(1);
});
