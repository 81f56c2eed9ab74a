import { createServer } from "node:http";
import next from "next";
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
    if (!serveHook(req, res, () => getRuntime())) void handle(req, res);
  });
  const { io, publisher } = attachRealtime(httpServer, () => getRuntime());
  const runtime = await getRuntime({ publisher }); // migrates the database on first start

  // Runs whose process died (expired lease) continue here from their last checkpoint, now and whenever a
  // peer process stops renewing its leases.
  const resumeOrphans = async () => {
    const resumed = await runtime.runner.resumeOrphans().catch((err) => (logger.error({ err }, "resuming runs failed"), []));
    if (resumed.length) logger.info({ runs: resumed }, "resumed runs left by a stopped process");
  };
  await resumeOrphans();
  setInterval(() => void resumeOrphans(), 10_000).unref();

  // Checkpoint retention (Settings or ORCHESTRATOR_CHECKPOINT_RETENTION_DAYS), read afresh each time.
  const prune = () =>
    pruneByRetention(runtime.db, runtime.checkpointer)
      .then(({ runs, days }) => runs && logger.info({ runs, keepDays: days }, "pruned checkpoint history of old runs"))
      .catch((err) => logger.error({ err }, "checkpoint retention failed"));
  void prune();
  setInterval(() => void prune(), 3_600_000).unref();

  httpServer.listen(port, hostname, () => {
    console.log(`LLM orchestrator ready on http://${hostname}:${port}`);
  });

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
