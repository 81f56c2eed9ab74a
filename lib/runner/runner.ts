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
}

/** How often a process looks for cancel requests of the runs it executes (cancel must land within a second). */
const CANCEL_POLL_MS = 250;
/** A run's lease: renewed while its process executes it; an expired lease means nobody is executing it. */
const LEASE_MS = 15_000;
const LEASE_RENEW_MS = 5_000;

const TERMINAL: RunStatus[] = ["succeeded", "failed", "cancelled"];

/** Accepts runs, queues them and executes them in this process. */
export class Runner {
  private readonly queue: RunQueue;
  private readonly finished = new Map<string, Promise<RunResult>>();
  /** Runs this process is executing, with the switch that aborts each. */
  private readonly executing = new Map<string, AbortController>();
  private watcher?: NodeJS.Timeout;
  private lastLeaseRenewal = 0;
  readonly processId = `proc_${randomUUID()}`;
  publisher: RunPublisher;

  constructor(private readonly options: RunnerOptions) {
    this.queue = new RunQueue(options.concurrency);
    this.publisher = options.publisher ?? silentPublisher;
  }

  private get deps() {
    return { db: this.options.db, sql: this.options.sql, checkpointer: this.options.checkpointer, publisher: this.publisher };
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
      },
    });
    const log = new RunEventLog(this.options.sql, this.publisher, runId, 0);
    log.emit({ type: "run.status", status: "queued" });
    await log.flush();
    await db.run.update({ where: { id: runId }, data: { lastSeq: log.lastSeq } });
    const done = this.queue.enqueue(() => this.execute(runId));
    this.finished.set(runId, done);
    void done.finally(() => setTimeout(() => this.finished.delete(runId), 60_000).unref());
    return { runId };
  }

  /** Takes the run (if still queued and not cancelled) under this process's lease and executes it. */
  private async execute(runId: string): Promise<RunResult> {
    const { db } = this.options;
    const claimed = await db.run.updateMany({
      where: { id: runId, status: "queued", cancelRequestedAt: null },
      data: { leaseOwner: this.processId, leaseExpiresAt: new Date(Date.now() + LEASE_MS) },
    });
    if (!claimed.count) {
      const run = await db.run.findUniqueOrThrow({ where: { id: runId } });
      if (run.status === "queued") return endWithoutExecuting(this.deps, runId, "cancelled", CANCELLED_ERROR);
      return { runId, status: run.status as RunStatus, outputs: JSON.parse(run.outputs ?? "{}"), ...(run.error ? { error: JSON.parse(run.error) } : {}) };
    }
    const controller = new AbortController();
    this.executing.set(runId, controller);
    this.watch();
    try {
      return await executeRun(this.deps, runId, controller.signal);
    } catch (err) {
      return endWithoutExecuting(this.deps, runId, "failed", serializeError(err));
    } finally {
      this.executing.delete(runId);
    }
  }

  /**
   * Asks for a run to be cancelled, whichever process executes it: that process sees the request within
   * CANCEL_POLL_MS and aborts in-flight requests. A run nobody is executing (queued, or its lease expired) is
   * ended here. Returns the run's status after the request.
   */
  async cancelRun(runId: string, ownerId: string): Promise<{ runId: string; status: RunStatus }> {
    const { db } = this.options;
    const run = await db.run.findFirst({ where: { id: runId, ownerId } });
    if (!run) throw new OrchestratorError("NOT_FOUND", `run "${runId}" not found`);
    if (TERMINAL.includes(run.status as RunStatus)) return { runId, status: run.status as RunStatus };
    await db.run.update({ where: { id: runId }, data: { cancelRequestedAt: new Date() } });
    await db.auditLog.create({ data: { actorId: ownerId, action: "run.cancel", targetType: "run", targetId: runId } });
    const local = this.executing.get(runId);
    if (local) {
      local.abort();
      return { runId, status: "running" };
    }
    const unowned = await db.run.updateMany({
      where: { id: runId, status: { in: ["queued", "running"] }, OR: [{ leaseExpiresAt: null }, { leaseExpiresAt: { lt: new Date() } }] },
      data: { status: "cancelled" },
    });
    if (unowned.count) {
      await endWithoutExecuting(this.deps, runId, "cancelled", CANCELLED_ERROR);
      return { runId, status: "cancelled" };
    }
    return { runId, status: run.status as RunStatus };
  }

  /** Polls the database until the run has ended (it may execute in another process) or the time is up. */
  async waitForEnd(runId: string, timeoutMs: number): Promise<RunStatus> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const run = await this.options.db.run.findUnique({ where: { id: runId }, select: { status: true } });
      const status = (run?.status ?? "failed") as RunStatus;
      if (TERMINAL.includes(status) || Date.now() >= deadline) return status;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** While runs execute here: renew their leases and abort the ones another process asked to cancel. */
  private watch() {
    if (this.watcher) return;
    this.watcher = setInterval(() => void this.checkRuns(), CANCEL_POLL_MS);
    this.watcher.unref();
  }

  private async checkRuns() {
    const ids = [...this.executing.keys()];
    if (!ids.length) {
      clearInterval(this.watcher);
      this.watcher = undefined;
      return;
    }
    const { db } = this.options;
    try {
      const cancelled = await db.run.findMany({ where: { id: { in: ids }, cancelRequestedAt: { not: null } }, select: { id: true } });
      for (const { id } of cancelled) this.executing.get(id)?.abort();
      if (Date.now() - this.lastLeaseRenewal >= LEASE_RENEW_MS) {
        this.lastLeaseRenewal = Date.now();
        await db.run.updateMany({ where: { id: { in: ids }, leaseOwner: this.processId }, data: { leaseExpiresAt: new Date(Date.now() + LEASE_MS) } });
      }
    } catch {
      // A failed check is retried on the next tick.
    }
  }

  /** Resolves when a run started by this process ends. */
  async waitForRun(runId: string): Promise<RunResult> {
    const done = this.finished.get(runId);
    if (!done) throw new OrchestratorError("INTERNAL", `run ${runId} is not executing in this process`);
    return done;
  }

  async runToCompletion(options: StartRunOptions): Promise<RunResult> {
    const { runId } = await this.startRun(options);
    return this.waitForRun(runId);
  }

  /** Waits for every run this process is executing (graceful shutdown, CLI exit). */
  async drain() {
    await Promise.allSettled([...this.finished.values()]);
  }
}
