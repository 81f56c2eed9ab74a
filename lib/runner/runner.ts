import { randomUUID } from "node:crypto";
import type { BaseCheckpointSaver } from "@langchain/langgraph";
import type { Db } from "@/lib/db";
import type { SqlConnection } from "@/lib/db/sql";
import { InvalidRunError, OrchestratorError, serializeError } from "@/lib/engine/errors";
import type { RunStatus } from "@/lib/realtime/events";
import { validateRunInput } from "@/lib/workflow/input";
import { validateWorkflow } from "@/lib/workflow/validate";
import { RunEventLog, silentPublisher, type RunPublisher } from "./events";
import { RunQueue } from "./queue";
import { CANCELLED_ERROR, endWithoutExecuting, executeRun, type RunResult } from "./run";

export interface StartRunOptions {
  definition: unknown;
  input?: unknown;
  ownerId: string;
  workflowVersion?: number;
  source?: "web" | "cli" | "api";
}

export interface RunnerOptions {
  db: Db;
  sql: SqlConnection;
  checkpointer: BaseCheckpointSaver;
  publisher?: RunPublisher;
  concurrency: number;
  /** How long a run's lease lasts without renewal (env ORCHESTRATOR_LEASE_MS, default 15 s). */
  leaseMs?: number;
}

/** How often a process looks for cancel requests of its runs (cancel must land within a second). */
const WATCH_MS = 250;

const TERMINAL: RunStatus[] = ["succeeded", "failed", "cancelled"];
const ACTIVE: RunStatus[] = ["queued", "running"];

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Accepts runs, queues them and executes them in this process. Every run this process holds (queued or
 * executing) carries its lease, renewed while it is alive; a run whose lease expired belongs to nobody and is
 * taken over by the next process that looks (`resumeOrphans`, `resumeRun`).
 */
export class Runner {
  private readonly queue: RunQueue;
  private readonly finished = new Map<string, Promise<RunResult>>();
  /** Runs this process holds a lease on: queued here or executing here. */
  private readonly held = new Set<string>();
  /** Runs executing here, with the switch that aborts each. */
  private readonly executing = new Map<string, AbortController>();
  private watcher?: NodeJS.Timeout;
  private lastLeaseRenewal = 0;
  private readonly leaseMs: number;
  readonly processId = `proc_${randomUUID()}`;
  publisher: RunPublisher;

  constructor(private readonly options: RunnerOptions) {
    this.queue = new RunQueue(options.concurrency);
    this.publisher = options.publisher ?? silentPublisher;
    this.leaseMs = options.leaseMs ?? (Number(process.env.ORCHESTRATOR_LEASE_MS) || 15_000);
  }

  private get deps() {
    return { db: this.options.db, sql: this.options.sql, checkpointer: this.options.checkpointer, publisher: this.publisher };
  }

  private leaseUntil() {
    return new Date(Date.now() + this.leaseMs);
  }

  /** Validates definition and input, stores the queued run and schedules it. Throws InvalidRunError. */
  async startRun(options: StartRunOptions): Promise<{ runId: string }> {
    const { definition, issues } = validateWorkflow(options.definition);
    if (!definition || issues.length) throw new InvalidRunError("INVALID_DEFINITION", issues);
    const checked = validateRunInput(definition, options.input);
    if (checked.issues.length) throw new InvalidRunError("INVALID_INPUT", checked.issues);

    const { db } = this.options;
    const runId = `run_${randomUUID().replace(/-/g, "").slice(0, 20)}`;
    await db.run.create({
      data: {
        id: runId,
        ownerId: options.ownerId,
        workflowId: definition.id,
        workflowName: definition.name,
        workflowVersion: options.workflowVersion ?? null,
        definition: JSON.stringify(definition),
        input: JSON.stringify(checked.input),
        status: "queued",
        source: options.source ?? "api",
        leaseOwner: this.processId,
        leaseExpiresAt: this.leaseUntil(),
      },
    });
    const log = new RunEventLog(this.options.sql, this.publisher, runId, 0);
    log.emit({ type: "run.status", status: "queued" });
    await log.flush();
    await db.run.update({ where: { id: runId }, data: { lastSeq: log.lastSeq } });
    this.schedule(runId);
    return { runId };
  }

  private schedule(runId: string) {
    this.held.add(runId);
    this.watch();
    const done = this.queue.enqueue(() => this.execute(runId));
    this.finished.set(runId, done);
    void done.finally(() => setTimeout(() => this.finished.delete(runId), 60_000).unref());
  }

  /** Executes a run this process holds, unless it was cancelled or ended meanwhile. */
  private async execute(runId: string): Promise<RunResult> {
    const { db } = this.options;
    try {
      const run = await db.run.findUniqueOrThrow({ where: { id: runId } });
      if (!ACTIVE.includes(run.status as RunStatus) || run.leaseOwner !== this.processId)
        return { runId, status: run.status as RunStatus, outputs: JSON.parse(run.outputs ?? "{}"), ...(run.error ? { error: JSON.parse(run.error) } : {}) };
      if (run.cancelRequestedAt) return await endWithoutExecuting(this.deps, runId, "cancelled", CANCELLED_ERROR);
      const controller = new AbortController();
      this.executing.set(runId, controller);
      try {
        return await executeRun(this.deps, runId, controller.signal);
      } catch (err) {
        return await endWithoutExecuting(this.deps, runId, "failed", serializeError(err));
      } finally {
        this.executing.delete(runId);
      }
    } finally {
      this.held.delete(runId);
    }
  }

  /** Takes a run whose lease expired (its process died) and executes it from its last checkpoint. */
  private async takeOver(runId: string): Promise<boolean> {
    const claimed = await this.options.db.run.updateMany({
      where: { id: runId, status: { in: ACTIVE }, OR: [{ leaseExpiresAt: null }, { leaseExpiresAt: { lt: new Date() } }] },
      data: { leaseOwner: this.processId, leaseExpiresAt: this.leaseUntil() },
    });
    if (!claimed.count) return false;
    this.schedule(runId);
    return true;
  }

  /** Finds runs nobody holds any more (their process was killed) and resumes them here. */
  async resumeOrphans(): Promise<string[]> {
    const orphans = await this.options.db.run.findMany({
      where: { status: { in: ACTIVE }, OR: [{ leaseExpiresAt: null }, { leaseExpiresAt: { lt: new Date() } }] },
      select: { id: true },
      orderBy: { createdAt: "asc" },
    });
    const taken: string[] = [];
    for (const { id } of orphans) if (await this.takeOver(id)) taken.push(id);
    return taken;
  }

  /**
   * Resumes a run that stopped because its process died: waits until the previous holder's lease has expired,
   * then executes it here from its last checkpoint. Its run id stays the same.
   */
  async resumeRun(runId: string, ownerId: string): Promise<{ runId: string }> {
    const { db } = this.options;
    for (;;) {
      const run = await db.run.findFirst({ where: { id: runId, ownerId } });
      if (!run) throw new OrchestratorError("NOT_FOUND", `run "${runId}" not found`);
      if (!ACTIVE.includes(run.status as RunStatus))
        throw new OrchestratorError("INVALID_INPUT", `run "${runId}" has already ended (${run.status}); only a run whose process stopped can be resumed`);
      if (this.held.has(runId)) return { runId };
      if (await this.takeOver(runId)) return { runId };
      const expires = run.leaseExpiresAt?.getTime() ?? 0;
      await sleep(Math.min(Math.max(expires - Date.now(), 0) + 50, this.leaseMs));
    }
  }

  /**
   * Asks for a run to be cancelled, whichever process holds it: that process sees the request within WATCH_MS
   * and aborts in-flight requests. A run nobody holds (its lease expired) is ended on the spot.
   */
  async cancelRun(runId: string, ownerId: string): Promise<{ runId: string; status: RunStatus }> {
    const { db } = this.options;
    const run = await db.run.findFirst({ where: { id: runId, ownerId } });
    if (!run) throw new OrchestratorError("NOT_FOUND", `run "${runId}" not found`);
    if (TERMINAL.includes(run.status as RunStatus)) return { runId, status: run.status as RunStatus };
    await db.run.update({ where: { id: runId }, data: { cancelRequestedAt: new Date() } });
    await db.auditLog.create({ data: { actorId: ownerId, action: "run.cancel", targetType: "run", targetId: runId } });
    if (this.held.has(runId)) return this.cancelHeld(runId);
    const unowned = await db.run.updateMany({
      where: { id: runId, status: { in: ACTIVE }, OR: [{ leaseExpiresAt: null }, { leaseExpiresAt: { lt: new Date() } }] },
      data: { status: "cancelled" },
    });
    if (unowned.count) {
      await endWithoutExecuting(this.deps, runId, "cancelled", CANCELLED_ERROR);
      return { runId, status: "cancelled" };
    }
    return { runId, status: run.status as RunStatus };
  }

  private async cancelHeld(runId: string): Promise<{ runId: string; status: RunStatus }> {
    const executing = this.executing.get(runId);
    if (executing) {
      executing.abort();
      return { runId, status: "running" };
    }
    // Still waiting in this process's queue: end it now; the queue skips it later.
    await endWithoutExecuting(this.deps, runId, "cancelled", CANCELLED_ERROR);
    return { runId, status: "cancelled" };
  }

  /** Polls the database until the run has ended (it may execute in another process) or the time is up. */
  async waitForEnd(runId: string, timeoutMs: number): Promise<RunStatus> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const run = await this.options.db.run.findUnique({ where: { id: runId }, select: { status: true } });
      const status = (run?.status ?? "failed") as RunStatus;
      if (TERMINAL.includes(status) || Date.now() >= deadline) return status;
      await sleep(100);
    }
  }

  /** While this process holds runs: renew their leases and act on cancel requests from other processes. */
  private watch() {
    if (this.watcher) return;
    this.watcher = setInterval(() => void this.checkHeldRuns(), WATCH_MS);
    this.watcher.unref();
  }

  private async checkHeldRuns() {
    const ids = [...this.held];
    if (!ids.length) {
      clearInterval(this.watcher);
      this.watcher = undefined;
      return;
    }
    const { db } = this.options;
    try {
      const cancelled = await db.run.findMany({ where: { id: { in: ids }, cancelRequestedAt: { not: null }, status: { in: ACTIVE } }, select: { id: true } });
      for (const { id } of cancelled) await this.cancelHeld(id);
      if (Date.now() - this.lastLeaseRenewal >= this.leaseMs / 3) {
        this.lastLeaseRenewal = Date.now();
        await db.run.updateMany({ where: { id: { in: ids }, leaseOwner: this.processId }, data: { leaseExpiresAt: this.leaseUntil() } });
      }
    } catch {
      // A failed check is retried on the next tick.
    }
  }

  /** Resolves when a run held by this process ends. */
  async waitForRun(runId: string): Promise<RunResult> {
    const done = this.finished.get(runId);
    if (!done) throw new OrchestratorError("INTERNAL", `run ${runId} is not executing in this process`);
    return done;
  }

  async runToCompletion(options: StartRunOptions): Promise<RunResult> {
    const { runId } = await this.startRun(options);
    return this.waitForRun(runId);
  }

  /** Waits for every run this process holds (graceful shutdown, CLI exit). */
  async drain() {
    await Promise.allSettled([...this.finished.values()]);
  }
}
