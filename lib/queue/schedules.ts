import { randomUUID } from "node:crypto";
import { Queue, Worker } from "bullmq";
import type { Redis } from "ioredis";
import { Redis as RedisClient } from "ioredis";
import { logger } from "@/lib/logger";
import { fireDue, type FireDeps } from "@/lib/schedules/fire";
import type { ScheduleSync } from "@/lib/schedules/repository";
import { nextFireAfter } from "@/lib/schedules/timing";
import type { QueueConfig } from "./config";

/**
 * Schedules in queue mode: one BullMQ job scheduler per enabled schedule on the `schedules` queue (id = the
 * schedule's id), so BullMQ produces one job per fire time however many processes run; the workers consume them
 * and fire through the same `fireDue` as the one-process scheduler, whose (schedule, fire time) key makes a fire
 * start one run even if a job were delivered twice. Postgres stays the truth: edits update the job scheduler at
 * once (web process, CLI), and each worker's sync (at start and every reconcile interval, one worker at a time)
 * re-creates job schedulers Redis lacks (a flush, a failed edit), removes those of paused or deleted schedules,
 * and fires schedules whose fire time passed with no job (Redis lost it): the missed-fire policy applies there as
 * in one-process mode.
 */
export const SCHEDULE_QUEUE = "schedules";

interface ScheduleJob {
  scheduleId: string;
}

const JOB_OPTIONS = { removeOnComplete: true, removeOnFail: true } as const;

export class ScheduleQueueClient implements ScheduleSync {
  readonly queue: Queue<ScheduleJob>;

  constructor(
    readonly config: QueueConfig,
    readonly connection: Redis,
    private readonly minuteMs: number,
  ) {
    this.queue = new Queue<ScheduleJob>(SCHEDULE_QUEUE, { connection, prefix: config.prefix, defaultJobOptions: JOB_OPTIONS });
    this.queue.on("error", (err) => logger.debug({ err }, "bullmq schedules queue"));
  }

  async upsert(schedule: Parameters<ScheduleSync["upsert"]>[0]): Promise<void> {
    if (!schedule.enabled) return this.remove(schedule.id);
    const repeat =
      schedule.kind === "cron"
        ? { pattern: schedule.cron ?? "", tz: schedule.timezone }
        : // BullMQ's `every` starts at startDate and adds the interval: given our grid's next fire time, its times are ours.
          { every: (schedule.everyMinutes ?? 1) * this.minuteMs, startDate: (schedule.nextFireAt ?? nextFireAfter({ kind: "interval", everyMinutes: schedule.everyMinutes ?? 1, minuteMs: this.minuteMs }, new Date()))!.getTime() };
    await this.queue.upsertJobScheduler(schedule.id, repeat, { name: "fire", data: { scheduleId: schedule.id }, opts: JOB_OPTIONS });
  }

  async remove(scheduleId: string): Promise<void> {
    await this.queue.removeJobScheduler(scheduleId);
  }

  /** Ids of the job schedulers Redis holds. */
  async schedulerIds(): Promise<Set<string>> {
    const ids = new Set<string>();
    for (let start = 0; ; start += 500) {
      const page = await this.queue.getJobSchedulers(start, start + 499, true);
      for (const s of page) ids.add(s.key);
      if (page.length < 500) return ids;
    }
  }

  async close() {
    await this.queue.close().catch(() => {});
  }
}

/** The fire time a job of a job scheduler stands for: its id is `repeat:<scheduler id>:<fire time ms>`. */
export function fireTimeOfJob(jobId: string | undefined): number | undefined {
  const match = /^repeat:.+:(\d+)$/.exec(jobId ?? "");
  return match ? Number(match[1]) : undefined;
}

/** A worker's consumer of schedule jobs, and the sync of Postgres' schedules into Redis. */
export function startScheduleWorker(deps: FireDeps, client: ScheduleQueueClient) {
  const { config } = client;
  const name = `sched-${randomUUID().slice(0, 8)}`;
  const connection = new RedisClient(config.redisUrl, { maxRetriesPerRequest: null, connectionName: `${config.prefix}:schedules` });
  connection.on("error", (err) => logger.debug({ err }, "redis (schedule worker)"));
  const worker = new Worker<ScheduleJob>(
    SCHEDULE_QUEUE,
    async (job) => {
      // A job delivered a moment before its time still stands for its own fire time; one delivered late (no worker
      // was up) for the latest fire time passed, whose policy fireDue applies.
      const now = new Date();
      const jobTime = fireTimeOfJob(job.id);
      const at = jobTime !== undefined && jobTime > now.getTime() ? new Date(jobTime) : now;
      const outcome = await fireDue(deps, job.data.scheduleId, at, now);
      logger.debug({ scheduleId: job.data.scheduleId, outcome }, "schedule job");
    },
    { connection, prefix: config.prefix, name, concurrency: 4, lockDuration: config.lockMs, stalledInterval: config.lockMs },
  );
  worker.on("error", (err) => logger.warn({ err }, "bullmq schedule worker"));
  worker.on("failed", (job, err) => logger.error({ err, scheduleId: job?.data.scheduleId }, "schedule job failed"));

  let syncing: Promise<void> | undefined;
  const sync = () =>
    (syncing ??= syncSchedules(deps, client, name)
      .catch((err) => logger.warn({ err }, "syncing schedules into Redis failed (retried at the next interval)"))
      .finally(() => (syncing = undefined)));
  void sync();
  const timer = setInterval(() => void sync(), config.reconcileMs);
  timer.unref();

  return {
    name,
    sync,
    async close() {
      clearInterval(timer);
      await syncing;
      await worker.close().catch(() => {});
      connection.disconnect();
    },
  };
}

async function syncSchedules(deps: FireDeps, client: ScheduleQueueClient, name: string): Promise<void> {
  const { config } = client;
  const lock = await client.connection.set(`${config.prefix}:${SCHEDULE_QUEUE}:sync-lock`, name, "PX", Math.max(config.reconcileMs - 100, 100), "NX");
  if (lock !== "OK") return;
  const [rows, inRedis] = await Promise.all([
    deps.db.schedule.findMany({ select: { id: true, enabled: true, kind: true, cron: true, timezone: true, everyMinutes: true, nextFireAt: true } }),
    client.schedulerIds(),
  ]);
  const enabled = new Set(rows.filter((r) => r.enabled).map((r) => r.id));
  for (const row of rows) if (row.enabled && !inRedis.has(row.id)) await client.upsert(row);
  for (const id of inRedis) if (!enabled.has(id)) await client.remove(id);
  // Fire times that passed with no job handling them (beyond the grace period: a job due now is BullMQ's to deliver).
  const now = new Date();
  const overdue = await deps.db.schedule.findMany({ where: { enabled: true, nextFireAt: { lt: new Date(now.getTime() - deps.graceMs) } }, select: { id: true }, take: 500 });
  for (const { id } of overdue) await fireDue(deps, id, now, now);
}
