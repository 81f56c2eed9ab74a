import { randomUUID } from "node:crypto";
import { DelayedError, Queue, Worker } from "bullmq";
import { Redis } from "ioredis";
import { logger } from "@/lib/logger";
import type { Runner, RunDispatch } from "@/lib/runner/runner";
import type { QueueConfig } from "./config";

/** The BullMQ queue runs go through; a job's id is its run's id, so a run is in the queue at most once. */
export const RUN_QUEUE = "runs";

interface RunJob {
  runId: string;
  /** Added by `startRun` for a run it just created: see Runner.executeQueued. */
  fresh?: boolean;
  /** How often the run found its workflow's concurrency limit reached (the delay before it tries again grows). */
  slotWaits?: number;
}

/**
 * A job whose run could not be claimed (Postgres unreachable) fails and is tried again with capped exponential
 * back-off (`retryDelay`) instead of being dropped; after the last attempt the reconciler still has the run.
 */
const JOB_OPTIONS = { removeOnComplete: true, removeOnFail: true, attempts: 30, backoff: { type: "capped" } } as const;

/** Wait before a failed job's next attempt: 0.5 s, doubling, at most 30 s. */
export const retryDelay = (attemptsMade: number) => Math.min(30_000, 500 * 2 ** Math.max(0, attemptsMade - 1));

/**
 * How long a run's job waits (delayed in BullMQ, not on a worker) before trying for a concurrency slot again:
 * 0.5 s doubling up to 5 s. A slot freed on a worker promotes its group's first jobs at once (`wake`); the delay
 * only bounds how late a slot freed otherwise (an expired lease, a lost wake) is noticed.
 */
export const slotRetryDelayMs = (waits: number) => Math.min(500 * 2 ** Math.max(0, waits - 1), 5000);

/**
 * The producer side (web process, CLI, and workers that requeue a run): adds runs to BullMQ and reads its depth
 * and workers for GET /api/health. Redis being down never blocks a caller for long: the run is already stored
 * (queued) in Postgres, and the workers' reconciler enqueues it once Redis answers again.
 */
export class RunQueueClient implements RunDispatch {
  /** Also what the reconciler's lock is taken with, and what settled runs are announced on. */
  readonly connection: Redis;
  readonly queue: Queue<RunJob>;
  /** Subscribed to `settledChannel` once this process first waits for a run (a subscribed connection does nothing else). */
  private subscriber?: Redis;
  private subscribed?: Promise<unknown>;
  private readonly settledListeners = new Map<string, Set<() => void>>();

  constructor(readonly config: QueueConfig) {
    // Fail fast: a command waits for at most one reconnection, then errors (the caller logs it and goes on).
    this.connection = new Redis(config.redisUrl, { maxRetriesPerRequest: 1, connectionName: `${config.prefix}:producer` });
    this.connection.on("error", (err) => logger.debug({ err }, "redis (queue producer)"));
    this.queue = new Queue<RunJob>(RUN_QUEUE, { connection: this.connection, prefix: config.prefix, defaultJobOptions: JOB_OPTIONS });
    this.queue.on("error", (err) => logger.debug({ err }, "bullmq queue"));
  }

  async enqueue(runId: string, options: { fresh?: boolean } = {}): Promise<void> {
    await this.queue.add("run", options.fresh ? { runId, fresh: true } : { runId }, { jobId: runId });
  }

  /** Promotes the delayed jobs of these runs (waiting for a concurrency slot) so a worker takes them now. */
  async wake(runIds: string[]): Promise<void> {
    await Promise.all(
      runIds.map(async (runId) => {
        const job = await this.queue.getJob(runId);
        // A job being processed or already waiting needs nothing; a promote racing its move is harmless.
        if (job && (await job.isDelayed())) await job.promote().catch(() => {});
      }),
    );
  }

  async enqueueMany(runIds: string[]): Promise<void> {
    if (runIds.length) await this.queue.addBulk(runIds.map((runId) => ({ name: "run", data: { runId }, opts: { ...JOB_OPTIONS, jobId: runId } })));
  }

  private get settledChannel() {
    return `${this.config.prefix}:${RUN_QUEUE}:settled`;
  }

  /**
   * Tells the processes waiting for a run (`?wait=true`, the CLI, the TS API) that it settled — ended, or waits for
   * someone — so they read its row now rather than at their next poll. Best effort: a lost message costs a waiter
   * its slow poll, nothing else (the row is the truth).
   */
  announceSettled(runId: string): void {
    this.connection.publish(this.settledChannel, runId).catch((err) => logger.debug({ err, runId }, "announcing a settled run failed"));
  }

  /**
   * Calls `listener` whenever some process announces `runId` settled, until the returned function is called. Resolves
   * once this process's subscription is in place (at most a second when Redis does not answer: the waiter's poll
   * covers that), so an announcement made after it is heard.
   */
  async onSettled(runId: string, listener: () => void): Promise<() => void> {
    let listeners = this.settledListeners.get(runId);
    if (!listeners) this.settledListeners.set(runId, (listeners = new Set()));
    listeners.add(listener);
    const stop = () => {
      listeners.delete(listener);
      if (!listeners.size && this.settledListeners.get(runId) === listeners) this.settledListeners.delete(runId);
    };
    if (!this.subscribed) {
      // Subscribed again by ioredis after a reconnection; commands wait for the connection rather than fail.
      const subscriber = (this.subscriber = new Redis(this.config.redisUrl, { maxRetriesPerRequest: null, connectionName: `${this.config.prefix}:settled` }));
      subscriber.on("error", (err) => logger.debug({ err }, "redis (settled runs)"));
      subscriber.on("message", (_channel: string, settledRunId: string) => this.settledListeners.get(settledRunId)?.forEach((fn) => fn()));
      this.subscribed = subscriber.subscribe(this.settledChannel).catch((err) => {
        logger.warn({ err }, "subscribing to settled runs failed; waiting for runs falls back to reading their rows");
        subscriber.disconnect();
        this.subscribed = undefined; // the next waiter tries again
      });
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.subscribed, new Promise((resolve) => (timer = setTimeout(resolve, 1000)))]);
    clearTimeout(timer);
    return stop;
  }

  /** Runs waiting for a worker (waiting, delayed, prioritized). */
  async depth(): Promise<number> {
    const counts = await this.queue.getJobCounts("waiting", "delayed", "prioritized");
    return Object.values(counts).reduce((sum, n) => sum + n, 0);
  }

  /** Workers connected now (BullMQ names each worker's connections `<prefix>:<queue>:w:<worker name>`; counted by that name). */
  async workers(): Promise<number> {
    const clients = await this.queue.getWorkers();
    return new Set(clients.map((client) => client.rawname ?? client.name)).size;
  }

  async close() {
    await this.queue.close().catch(() => {});
    this.connection.disconnect();
    this.subscriber?.disconnect();
  }
}

/**
 * A worker process's consumer: takes run jobs from BullMQ and executes them with the runner (`executeQueued`: the
 * lease is claimed first, so a job for a run another process holds, or one that ended, does nothing), and
 * reconciles Postgres with Redis on start and every `reconcileMs`.
 */
export function startRunWorker(runner: Runner, client: RunQueueClient) {
  const { config } = client;
  const name = `worker-${randomUUID().slice(0, 8)}`;
  const connection = new Redis(config.redisUrl, { maxRetriesPerRequest: null, connectionName: `${config.prefix}:consumer` });
  connection.on("error", (err) => logger.debug({ err }, "redis (queue worker)"));
  const worker = new Worker<RunJob>(
    RUN_QUEUE,
    async (job, token) => {
      // A run requeued while it executed here (an approval decided at once) may have been refused as a duplicate
      // of this very job: it is taken again here instead of waiting for the reconciler.
      // `fresh` is checked against the row by executeQueued, so it may stay set across waits for a slot.
      let fresh = job.data.fresh === true;
      for (;;) {
        const result = await runner.executeQueued(job.data.runId, { fresh });
        if (!result) return;
        if (result.status === "queued") {
          // Its workflow is at its concurrency limit: the run was handed back (queued, no lease); its job waits
          // delayed in Redis, holding no worker slot, until a slot frees (wake) or the delay passes.
          const slotWaits = (job.data.slotWaits ?? 0) + 1;
          await job.updateData({ ...job.data, slotWaits });
          await job.moveToDelayed(Date.now() + slotRetryDelayMs(slotWaits), token);
          throw new DelayedError();
        }
        fresh = false;
      }
    },
    {
      connection,
      prefix: config.prefix,
      name,
      concurrency: config.concurrency,
      lockDuration: config.lockMs,
      stalledInterval: config.lockMs,
      maxStalledCount: 5,
      settings: { backoffStrategy: (attemptsMade: number) => retryDelay(attemptsMade) },
    },
  );
  worker.on("error", (err) => logger.warn({ err }, "bullmq worker"));
  // A failed claim is retried (JOB_OPTIONS): logged once per run while it keeps failing, not per attempt.
  worker.on("failed", (job, err) => {
    if (job && job.attemptsMade > 1 && job.attemptsMade < (job.opts.attempts ?? 1)) return;
    logger.warn({ err: err.message, runId: job?.data.runId, attempts: job?.attemptsMade }, job && job.attemptsMade >= (job.opts.attempts ?? 1) ? "run job failed for good (the reconciler enqueues its run again)" : "run job failed; retried with back-off");
  });

  const reconciler = new Reconciler(runner, client, name);
  void reconciler.tick();
  const timer = setInterval(() => void reconciler.tick(), config.reconcileMs);
  timer.unref();

  return {
    name,
    reconcile: () => reconciler.tick(),
    async close() {
      clearInterval(timer);
      await worker.close().catch(() => {});
      connection.disconnect();
    },
  };
}

/**
 * Puts back in BullMQ the runs Postgres has as queued, or running with an expired lease, that Redis lacks (Redis
 * restarted or flushed, a worker killed, an enqueue that failed). One worker at a time (a Redis lock for the
 * interval); duplicates are impossible anyway, since a job's id is its run's id.
 */
class Reconciler {
  private running = false;
  /** Set while ticks fail (Redis or Postgres away): the failure is logged once, and its end. */
  private failing = false;

  constructor(
    private readonly runner: Runner,
    private readonly client: RunQueueClient,
    private readonly name: string,
  ) {}

  async tick(): Promise<number> {
    if (this.running) return 0;
    this.running = true;
    try {
      const { config } = this.client;
      const lock = await this.client.connection.set(`${config.prefix}:${RUN_QUEUE}:reconcile-lock`, this.name, "PX", Math.max(config.reconcileMs - 100, 100), "NX");
      if (lock !== "OK") return 0;
      const runIds = await this.runner.unheldRunIds(1000);
      await this.client.enqueueMany(runIds);
      if (runIds.length) logger.info({ runs: runIds.length }, "reconciler: enqueued runs Postgres has as queued or orphaned");
      if (this.failing) logger.info("reconciling the run queue works again");
      this.failing = false;
      return runIds.length;
    } catch (err) {
      if (!this.failing) logger.warn({ err: err instanceof Error ? err.message : String(err) }, "reconciling the run queue failed (retried every interval; logged again once it works)");
      this.failing = true;
      return 0;
    } finally {
      this.running = false;
    }
  }
}
