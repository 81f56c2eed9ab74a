import { randomUUID } from "node:crypto";
import { recordAudit } from "@/lib/audit/record";
import type { SqlCheckpointSaver } from "@/lib/checkpoint/sql-saver";
import type { Db } from "@/lib/db";
import type { Prisma } from "@/lib/db/generated/sqlite/client";
import type { SqlConnection } from "@/lib/db/sql";
import { maxTakeovers } from "@/lib/config";
import { leaseLost, OrchestratorError, serializeError } from "@/lib/engine/errors";
import type { RunStatus } from "@/lib/runner/event-types";
import { getWorkflow } from "@/lib/workflows/repository";
import { getCheckpointState, inspectionGraph, listCheckpoints, ownedRun, readCheckpoint } from "./checkpoints";
import { resumedByHand, type RequeueData, type RunControl } from "./control";
import { claimSlot, firstQueuedOfGroup, groupLock, type SlotRun } from "./concurrency";
import { announceQueued, createQueuedRun, type StartRunOptions } from "./create-run";
import { decideApproval, deliverCallback } from "./decisions";
import { storedTokensPublisher, type RunPublisher } from "./events";
import { logger } from "@/lib/logger";
import { observeQueue } from "@/lib/observability/metrics-state";
import { RunQueue } from "./queue";
import { forkRun, resumeFromCheckpoint } from "./time-travel";
import { CANCELLED_ERROR, endCrashLoop, endWithoutExecuting, executeRun, readRunRecord, type RunResult } from "./run";

export type { StartRunOptions } from "./create-run";

export interface RunnerOptions {
  db: Db;
  sql: SqlConnection;
  checkpointer: SqlCheckpointSaver;
  /** Where live events go; without one (a headless process) the streamed text is stored for the servers to relay. */
  publisher?: RunPublisher;
  concurrency: number;
  /** How long a run's lease lasts without renewal (env ORCHESTRATOR_LEASE_MS, default 15 s). */
  leaseMs?: number;
  /** How often a run may be taken over before it fails with CRASH_LOOP (env ORCHESTRATOR_MAX_TAKEOVERS, default 3). */
  maxTakeovers?: number;
  /** Queue mode: runs are handed to workers through this (BullMQ) instead of executing here. */
  dispatch?: RunDispatch;
}

/** Where queue mode sends runs to execute (lib/queue/bullmq.ts). */
export interface RunDispatch {
  /** `fresh`: the run was just created (no checkpoint, no event after its row's lastSeq): the worker skips reading them. */
  enqueue(runId: string, options?: { fresh?: boolean }): Promise<void>;
  /** Tells every process waiting for the run that it settled (ended, or waits for someone): best effort. */
  announceSettled?(runId: string): void;
  /** Calls `listener` when any process announces the run settled, until the returned function is called. */
  onSettled?(runId: string, listener: () => void): Promise<() => void>;
  /** Starts now the runs whose jobs wait delayed for a concurrency slot (a slot of their group has freed). */
  wake?(runIds: string[]): Promise<void>;
}

/**
 * The lease owner of a run handed to the queue: no process holds it (`leaseExpiresAt` null) and the worker that
 * takes its job claims it without counting a takeover.
 */
export const QUEUE_LEASE_OWNER = "queue";

/** How often a process looks for cancel requests of its runs (cancel must land within a second). */
const WATCH_MS = 250;
/**
 * How often runs waiting here for a concurrency slot try again (inline mode). A slot freed in this process wakes
 * its group's first waiter at once; this catches slots freed elsewhere (another process, an expired lease).
 */
const SLOT_RETRY_MS = 1000;

/** What `execute` gives back when the run has to wait for a concurrency slot in this process (inline mode). */
interface SlotWait {
  slotWait: string;
  /** Its place in the line: creation time, then id (the order claims are granted in). */
  place: [number, string];
}
const before = (a: [number, string], b: [number, string]) => a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);
const isSlotWait = (outcome: RunResult | SlotWait): outcome is SlotWait => "slotWait" in outcome;
/**
 * How often a process waiting for a run executing elsewhere reads its row: fast without announcements (inline mode,
 * a run taken over by another process), slow where the executing process announces the end (queue mode's pub/sub),
 * as a fallback for an announcement lost (Redis restarted, a worker killed between its last write and the message).
 */
const SETTLE_POLL_MS = 100;
const SETTLE_FALLBACK_POLL_MS = 1000;

const TERMINAL: RunStatus[] = ["succeeded", "failed", "cancelled"];
const ACTIVE: RunStatus[] = ["queued", "running"];

type RunRow = Awaited<ReturnType<Db["run"]["findFirstOrThrow"]>>;


/**
 * Active runs nobody holds a live lease on. Sub-workflow runs executing inside their parent hold no lease of
 * their own (the parent resumes them); only those that ran on their own after waiting (leased) are taken over.
 */
const orphaned = () => ({
  status: { in: ACTIVE },
  AND: [
    { OR: [{ parentStepId: null }, { leaseOwner: { not: null } }] },
    { OR: [{ leaseExpiresAt: null }, { leaseExpiresAt: { lt: new Date() } }] },
  ],
});

/** The run's concurrency group, when its workflow has a limit. */
function slotRunOf(run: { id: string; workflowId: string; concurrencyKey: string | null; concurrencyLimit: number | null }): SlotRun | null {
  if (run.concurrencyKey === null || run.concurrencyLimit === null) return null;
  return { id: run.id, workflowId: run.workflowId, concurrencyKey: run.concurrencyKey, concurrencyLimit: Number(run.concurrencyLimit) };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Accepts runs, queues them and executes them in this process: leases, takeovers, resume, cancel. Every run this
 * process holds (queued or executing) carries its lease, renewed while it is alive; a run whose lease expired
 * belongs to nobody and is taken over by the next process that looks (`resumeOrphans`, `resumeRun`). Time
 * travel (time-travel.ts) and what waiting runs wait for (decisions.ts) restart runs through it (RunControl).
 */
export class Runner {
  private readonly queue: RunQueue;
  private readonly finished = new Map<string, Promise<RunResult>>();
  /** Runs this process holds a lease on: queued here or executing here. */
  private readonly held = new Set<string>();
  /** Runs executing here, with the switch that aborts each. */
  private readonly executing = new Map<string, AbortController>();
  /** Runs created here and not executed yet: they have no checkpoint to read before starting. */
  private readonly fresh = new Set<string>();
  /**
   * Runs held here that wait for a concurrency slot (inline mode), by group; each with its place in the line and
   * what starts it again. They keep their lease (renewed like any held run) and no slot of the local queue.
   */
  private readonly slotWaiters = new Map<string, Map<string, { place: [number, string]; retry: () => void }>>();
  private slotTimer?: NodeJS.Timeout;
  private watcher?: NodeJS.Timeout;
  private lastLeaseRenewal = 0;
  private readonly leaseMs: number;
  private readonly maxTakeovers: number;
  readonly processId = `proc_${randomUUID()}`;
  publisher: RunPublisher;

  constructor(private readonly options: RunnerOptions) {
    this.queue = new RunQueue(options.concurrency);
    observeQueue(this.queue); // orchestrator_queue_depth
    this.publisher = options.publisher ?? storedTokensPublisher;
    this.leaseMs = options.leaseMs ?? (Number(process.env.ORCHESTRATOR_LEASE_MS) || 15_000);
    this.maxTakeovers = options.maxTakeovers ?? maxTakeovers();
  }

  private get deps() {
    return { db: this.options.db, sql: this.options.sql, checkpointer: this.options.checkpointer, publisher: this.publisher };
  }

  private leaseUntil() {
    return new Date(Date.now() + this.leaseMs);
  }

  /** Whether this process holds the run (queued or executing here): its events are published here as they are stored. */
  holds(runId: string): boolean {
    return this.held.has(runId);
  }

  /** Validates definition and input, stores the queued run and schedules it. Throws InvalidRunError. */
  async startRun(options: StartRunOptions): Promise<{ runId: string }> {
    if (this.options.dispatch) {
      const { runId } = await createQueuedRun(this.deps, { ...options, leaseOwner: QUEUE_LEASE_OWNER, leaseExpiresAt: null });
      await this.dispatch(runId, { fresh: true });
      return { runId };
    }
    const { runId } = await createQueuedRun(this.deps, { ...options, leaseOwner: this.processId, leaseExpiresAt: this.leaseUntil() });
    this.fresh.add(runId);
    this.schedule(runId);
    return { runId };
  }

  /** Whether runs go to workers through a queue (EXECUTION_MODE=queue) rather than executing here. */
  get queueMode(): boolean {
    return Boolean(this.options.dispatch);
  }

  /** Runs waiting in this process's own queue for a free slot (inline mode). */
  get localQueueSize() {
    return this.queue.size;
  }

  /**
   * Executes a run this process holds — or, in queue mode, hands it (and its lease) to the queue: the worker that
   * takes the job claims the run.
   */
  private schedule(runId: string) {
    if (!this.options.dispatch) return this.executeHere(runId);
    void this.options.db.run
      .updateMany({ where: { id: runId, leaseOwner: this.processId }, data: { leaseOwner: QUEUE_LEASE_OWNER, leaseExpiresAt: null } })
      .then(() => this.dispatch(runId))
      .catch((err) => logger.error({ err, runId }, "handing a run to the queue failed; the reconciler enqueues it later"));
  }

  /**
   * Executes the run in this process's queue. A run that must wait for a concurrency slot leaves the local queue
   * (it would block a slot other workflows can use) and waits among `slotWaiters`, still held here, until a slot
   * of its group frees; its result promise stays pending meanwhile.
   */
  private executeHere(runId: string) {
    let settle!: { resolve(result: RunResult): void; reject(err: unknown): void };
    this.hold(runId, new Promise<RunResult>((resolve, reject) => (settle = { resolve, reject })));
    const attempt = () => {
      this.queue.enqueue(() => this.execute(runId)).then((outcome) => {
        if (!isSlotWait(outcome)) return settle.resolve(outcome);
        this.waitForSlot(outcome.slotWait, runId, outcome.place, attempt);
      }, settle.reject);
    };
    attempt();
  }

  private waitForSlot(group: string, runId: string, place: [number, string], retry: () => void) {
    let waiters = this.slotWaiters.get(group);
    if (!waiters) this.slotWaiters.set(group, (waiters = new Map()));
    waiters.set(runId, { place, retry });
    if (!this.slotTimer) {
      this.slotTimer = setInterval(() => {
        for (const group of [...this.slotWaiters.keys()]) this.wakeSlotWaiter(group);
        if (!this.slotWaiters.size) {
          clearInterval(this.slotTimer);
          this.slotTimer = undefined;
        }
      }, SLOT_RETRY_MS);
      this.slotTimer.unref();
    }
  }

  /**
   * Lets the first run in line (created first) of a group here try for a slot again — only it: the claim grants
   * slots in creation order, so a later one would be refused. One at a time per call: a run that gets its slot
   * wakes the next (`execute`), so N freed slots start N runs in order without asking for each waiter.
   */
  private wakeSlotWaiter(group: string) {
    const waiters = this.slotWaiters.get(group);
    if (!waiters) return;
    let first: [string, { place: [number, string]; retry: () => void }] | undefined;
    for (const entry of waiters) if (!first || before(entry[1].place, first[1].place)) first = entry;
    if (!first) return;
    waiters.delete(first[0]);
    if (!waiters.size) this.slotWaiters.delete(group);
    first[1].retry();
  }

  /** A slot of the group has freed: here the first local waiter tries again; in queue mode the delayed jobs of the group's first runs are started. */
  private async slotFreed(run: SlotRun) {
    this.wakeSlotWaiter(groupLock(run));
    if (!this.options.dispatch?.wake) return;
    try {
      const next = await firstQueuedOfGroup(this.options.sql, run);
      if (next.length) await this.options.dispatch.wake(next);
    } catch (err) {
      logger.warn({ err, runId: run.id }, "waking the runs waiting for a concurrency slot failed; their delayed jobs retry on their own");
    }
  }

  /** Enqueues a handed-off run; a Redis failure is logged, not thrown: the run is stored, the reconciler enqueues it. */
  private async dispatch(runId: string, options?: { fresh?: boolean }) {
    try {
      await this.options.dispatch!.enqueue(runId, options);
    } catch (err) {
      logger.error({ err, runId }, "enqueueing a run failed (Redis unreachable?); the workers' reconciler enqueues it once Redis answers");
    }
  }

  /**
   * A worker's part (queue mode): claims a run whose job it took and executes it here. A run handed to the queue
   * is claimed as is; one whose lease expired (its worker died) is taken over from its last checkpoint (counted,
   * CRASH_LOOP past the limit). Returns undefined, doing nothing, when the run ended or another process holds a
   * live lease on it: the lease stays the fence, whatever BullMQ delivers.
   *
   * `fresh` (the job `startRun` added) skips reading checkpoints and stored events, which a run just created does not
   * have — trusted only while the row agrees: never started (startedAt is written before anything else of an
   * execution) and never taken over (every takeover counts), so a stale job redelivered after the run executed
   * reads them as usual.
   */
  async executeQueued(runId: string, options: { fresh?: boolean } = {}): Promise<RunResult | undefined> {
    if (this.held.has(runId)) return undefined;
    const [handed] = await this.options.db.run.updateManyAndReturn({
      where: { id: runId, status: { in: ACTIVE }, leaseOwner: QUEUE_LEASE_OWNER },
      data: { leaseOwner: this.processId, leaseExpiresAt: this.leaseUntil() },
      select: { id: true, startedAt: true, takeovers: true },
    });
    if (handed) {
      if (options.fresh && handed.startedAt === null && handed.takeovers === 0) this.fresh.add(runId);
      this.executeHere(runId);
    } else if (!(await this.takeOver(runId, { here: true }))) return undefined;
    return this.finished.get(runId);
  }

  /** Runs no process holds (handed to the queue, or leased by a process that died): what the reconciler enqueues. */
  async unheldRunIds(limit: number): Promise<string[]> {
    const rows = await this.options.db.run.findMany({ where: orphaned(), select: { id: true }, orderBy: { createdAt: "asc" }, take: limit });
    return rows.map((row) => row.id);
  }

  /** Keeps the lease of a run renewed while `work` on it goes on here, and its result for `waitForRun`. */
  private hold(runId: string, done: Promise<RunResult>) {
    this.held.add(runId);
    this.watch();
    this.finished.set(runId, done);
    // Rejected only when not even the run's failure could be written (the database unreachable): unhandled, that
    // would end the process. The run keeps its lease until it lapses; then it is taken over from its checkpoint.
    void done
      .then(
        // Its final row is stored (executeRun flushes it before resolving): processes waiting for it read it now.
        () => this.options.dispatch?.announceSettled?.(runId),
        (err) => logger.error({ err: err instanceof Error ? err.message : String(err), runId }, "the run's end could not be recorded (database unreachable?): it is taken over once its lease lapses"),
      )
      .finally(() => setTimeout(() => this.finished.delete(runId), 60_000).unref());
  }

  /**
   * Executes a run this process holds, unless it was cancelled or ended meanwhile. A run of a workflow with a
   * concurrency limit first claims a slot (concurrency.ts); without one it waits: here (inline, `SlotWait`), or
   * handed back to the queue (queue mode: the result has status `queued` and the worker delays the job).
   */
  private async execute(runId: string): Promise<RunResult | SlotWait> {
    let waiting = false;
    try {
      const run = await readRunRecord(this.options.sql, runId);
      if (!ACTIVE.includes(run.status as RunStatus) || run.leaseOwner !== this.processId)
        return { runId, status: run.status as RunStatus, outputs: JSON.parse(run.outputs ?? "{}"), ...(run.error ? { error: JSON.parse(run.error) } : {}) };
      if (run.cancelRequestedAt) return await endWithoutExecuting(this.deps, runId, "cancelled", CANCELLED_ERROR);
      const slotRun = slotRunOf(run);
      if (slotRun) {
        const slot = await claimSlot(this.deps, slotRun, this.processId, this.queueMode).catch((err) => {
          // The database did not answer: here the run tries again with the waiters (its lease stays renewed); a
          // worker's job fails and the run is taken over once its lease expires.
          if (this.queueMode) throw err;
          logger.warn({ err, runId }, "claiming a concurrency slot failed; the run tries again");
          return { claimed: false as const };
        });
        if (!slot.claimed) {
          if (this.queueMode) return { runId, status: "queued", outputs: {} };
          waiting = true;
          return { slotWait: groupLock(slotRun), place: [new Date(run.createdAt).getTime(), run.id] };
        }
        // More than one slot may be free: the next waiter here tries too.
        this.wakeSlotWaiter(groupLock(slotRun));
      }
      const fresh = this.fresh.delete(runId);
      const controller = new AbortController();
      this.executing.set(runId, controller);
      try {
        const result = await executeRun(this.deps, runId, controller.signal, { run, fresh });
        if (run.parentStepId && TERMINAL.includes(result.status)) await this.wakeParent(run.parentRunId!);
        return result;
      } catch (err) {
        return await endWithoutExecuting(this.deps, runId, "failed", serializeError(err));
      } finally {
        this.executing.delete(runId);
        if (slotRun) void this.slotFreed(slotRun);
      }
    } finally {
      if (!waiting) {
        this.held.delete(runId);
        this.fresh.delete(runId);
      }
    }
  }

  /**
   * A sub-workflow run that had to wait (and so ran on its own, not inside its parent) has ended: its parent,
   * waiting at the calling step, resumes here and picks up the child's result.
   */
  private async wakeParent(parentRunId: string) {
    const parent = await this.options.db.run.findUnique({ where: { id: parentRunId }, select: { status: true } });
    if (parent?.status !== "waiting") return;
    try {
      await this.requeue(parentRunId, ["waiting"], { resumeValue: JSON.stringify({ childEnded: true }) });
      this.schedule(parentRunId);
    } catch {
      // Someone else resumed or cancelled the parent meanwhile.
    }
  }

  /**
   * Takes a run whose lease expired (its process died) and executes it from its last checkpoint. The claim counts
   * the takeover in the same conditional update, so a process that dies right after claiming still counts. A run
   * taken over more than `maxTakeovers` times has most likely been killing its processes: it fails with
   * CRASH_LOOP here, before anything of it executes. Returns false when another process claimed it first.
   */
  private async takeOver(runId: string, options: { here?: boolean } = {}): Promise<"resumed" | "crash-loop" | false> {
    const [claimed] = await this.options.db.run.updateManyAndReturn({
      where: { id: runId, ...orphaned() },
      data: { leaseOwner: this.processId, leaseExpiresAt: this.leaseUntil(), takeovers: { increment: 1 } },
      select: { takeovers: true, parentStepId: true, parentRunId: true },
    });
    if (!claimed) return false;
    if (claimed.takeovers <= this.maxTakeovers) {
      if (options.here) this.executeHere(runId);
      else this.schedule(runId);
      return "resumed";
    }
    const ended = (async () => {
      try {
        return await endCrashLoop(this.deps, runId, claimed.takeovers, this.maxTakeovers);
      } catch (err) {
        return await endWithoutExecuting(this.deps, runId, "failed", serializeError(err));
      } finally {
        this.held.delete(runId);
      }
    })();
    this.hold(runId, ended);
    await ended;
    // A sub-workflow run that ran on its own: its waiting parent learns that it failed.
    if (claimed.parentStepId) await this.wakeParent(claimed.parentRunId!);
    return "crash-loop";
  }

  /**
   * Finds runs nobody holds any more (their process was killed) and resumes them here; those taken over too
   * often fail with CRASH_LOOP instead (`crashLooped`).
   */
  async resumeOrphans(): Promise<{ resumed: string[]; crashLooped: string[] }> {
    const orphans = await this.options.db.run.findMany({
      where: orphaned(),
      select: { id: true },
      orderBy: { createdAt: "asc" },
    });
    const resumed: string[] = [];
    const crashLooped: string[] = [];
    for (const { id } of orphans) {
      const outcome = await this.takeOver(id);
      if (outcome === "resumed") resumed.push(id);
      else if (outcome === "crash-loop") crashLooped.push(id);
    }
    return { resumed, crashLooped };
  }

  /**
   * Resumes a run from its last checkpoint, keeping its run id:
   * - a run whose process died (queued/running): waits until the previous holder's lease has expired, then
   *   takes it over here (counted like any takeover: past the limit it fails with CRASH_LOOP); steps that
   *   finished are not run again, the ones in flight are;
   * - a failed or cancelled run: re-runs the step(s) that failed or were stopped, and what follows. With
   *   `useLatestVersion` it runs on the workflow's latest saved version (after the user fixed a step's config).
   *   This is how a CRASH_LOOP run is forced: it starts again with its takeover count at 0.
   */
  async resumeRun(runId: string, ownerId: string, options: { useLatestVersion?: boolean } = {}): Promise<{ runId: string }> {
    const { db } = this.options;
    for (;;) {
      const run = await ownedRun(db, ownerId, runId);
      if (run.parentStepId)
        throw new OrchestratorError("INVALID_INPUT", `run "${runId}" is a sub-workflow run of step "${run.parentStepId}" in run "${run.parentRunId}"; resume that run instead`);
      if (run.status === "failed" || run.status === "cancelled") return this.resumeEnded(run, ownerId, options.useLatestVersion ?? false);
      if (run.status === "waiting")
        throw new OrchestratorError("CONFLICT", `run "${runId}" is waiting for an approval; decide it with: orchestrator approve ${runId} [--reject]`);
      if (!ACTIVE.includes(run.status as RunStatus))
        throw new OrchestratorError("CONFLICT", `run "${runId}" has already succeeded; resume from one of its checkpoints or fork it instead`);
      if (this.held.has(runId)) return { runId };
      const takenOver = await this.takeOver(runId);
      if (takenOver) {
        await recordAudit(db, {
          actorId: ownerId,
          action: "run.resume",
          targetType: "run",
          targetId: runId,
          summary: takenOver === "resumed" ? `Resumed run ${runId}, whose process had stopped, from its last checkpoint` : `Tried to resume run ${runId}, whose process had stopped: it failed with CRASH_LOOP (taken over too often)`,
          data: { from: run.status, takeover: true, outcome: takenOver },
        });
        return { runId };
      }
      const expires = run.leaseExpiresAt?.getTime() ?? 0;
      await sleep(Math.min(Math.max(expires - Date.now(), 0) + 50, this.leaseMs));
    }
  }

  private async resumeEnded(run: RunRow, ownerId: string, useLatestVersion: boolean): Promise<{ runId: string }> {
    const { db } = this.options;
    let definition = run.definition;
    let workflowVersion = run.workflowVersion;
    if (useLatestVersion) {
      const latest = await getWorkflow(db, ownerId, run.workflowId);
      if (!latest) throw new OrchestratorError("NOT_FOUND", `workflow "${run.workflowId}" of run "${run.id}" is not saved, so it has no latest version`);
      await this.assertResumable(run, JSON.stringify(latest.definition));
      definition = JSON.stringify(latest.definition);
      workflowVersion = latest.version;
    }
    await this.requeue(run.id, ["failed", "cancelled"], { definition, workflowVersion, ...resumedByHand() });
    await recordAudit(db, {
      actorId: ownerId,
      action: "run.resume",
      targetType: "run",
      targetId: run.id,
      summary: `Resumed ${run.status} run ${run.id} from its failed step${useLatestVersion ? ` on the latest version (v${workflowVersion})` : ""}`,
      data: { from: run.status, workflowVersion, useLatestVersion },
    });
    this.schedule(run.id);
    return { runId: run.id };
  }

  /** A new definition can take over a run only if it still has the steps the run resumes at. */
  private async assertResumable(run: RunRow, definitionJson: string) {
    const stepIds = inspectionGraph(definitionJson, run.id, this.options.checkpointer).spec.stepIds;
    const { state } = await readCheckpoint(run, this.options.checkpointer);
    const missing = state.next.filter((id) => !stepIds.includes(id));
    if (missing.length)
      throw new OrchestratorError("INVALID_INPUT", `the latest version no longer has step ${missing.map((id) => `"${id}"`).join(", ")}, where run "${run.id}" resumes; resume it with the version it ran`);
  }

  /** Puts an ended (or waiting) run back in the queue under this process's lease. Throws if it changed meanwhile. */
  private async requeue(runId: string, from: RunStatus[], data: RequeueData = {}, also?: Prisma.RunWhereInput) {
    const claimed = await this.options.db.run.updateMany({
      where: { id: runId, status: { in: from }, ...also },
      data: {
        status: "queued",
        error: null,
        finishedAt: null,
        durationMs: null,
        resumeValue: null,
        cancelRequestedAt: null,
        leaseOwner: this.processId,
        leaseExpiresAt: this.leaseUntil(),
        // Started again on purpose (by hand, a decision or a callback): crashes before this do not count.
        takeovers: 0,
        ...data,
      },
    });
    if (!claimed.count) throw new OrchestratorError("CONFLICT", `run "${runId}" changed meanwhile (someone else resumed or decided it); reload it`);
    await announceQueued(this.deps, runId);
  }


  /** What time travel and decisions use to restart runs here. */
  private get control(): RunControl {
    return {
      deps: this.deps,
      processId: this.processId,
      leaseUntil: () => this.leaseUntil(),
      requeue: (runId, from, data, also) => this.requeue(runId, from, data, also),
      schedule: (runId) => this.schedule(runId),
    };
  }

  /** Time travel, "resume from here" (time-travel.ts). */
  resumeFromCheckpoint(runId: string, ownerId: string, checkpointId: string): Promise<{ runId: string }> {
    return resumeFromCheckpoint(this.control, runId, ownerId, checkpointId);
  }

  /** Time travel, "fork" (time-travel.ts). */
  forkRun(runId: string, ownerId: string, options: { checkpointId: string; set?: Record<string, unknown> }): Promise<{ runId: string }> {
    return forkRun(this.control, runId, ownerId, options);
  }

  /** The run's checkpoints, newest first (read side of the checkpoint browser). */
  listCheckpoints(runId: string, ownerId: string) {
    return listCheckpoints(this.deps, ownerId, runId);
  }

  /** The full state at one of the run's checkpoints and what would run next. */
  checkpointState(runId: string, ownerId: string, checkpointId: string) {
    return getCheckpointState(this.deps, ownerId, runId, checkpointId);
  }

  /** Decides a run's pending approval and resumes it here (decisions.ts). */
  decideApproval(runId: string, ownerId: string, decision: { approved: boolean; data?: unknown; comment?: string; decidedBy: string }): Promise<{ runId: string }> {
    return decideApproval(this.control, runId, ownerId, decision);
  }

  /** Delivers the call a run waits for at a wait_webhook step and resumes it here (decisions.ts). */
  deliverCallback(runId: string, stepId: string, execution: number, token: string, body: unknown): Promise<{ runId: string }> {
    return deliverCallback(this.control, runId, stepId, execution, token, body);
  }

  /**
   * Asks for a run to be cancelled, whichever process holds it: that process sees the request within WATCH_MS
   * and aborts in-flight requests. A run nobody holds (its lease expired) is ended on the spot.
   */
  async cancelRun(runId: string, ownerId: string): Promise<{ runId: string; status: RunStatus }> {
    const { db } = this.options;
    const run = await ownedRun(db, ownerId, runId);
    if (TERMINAL.includes(run.status as RunStatus)) return { runId, status: run.status as RunStatus };
    await db.run.update({ where: { id: runId }, data: { cancelRequestedAt: new Date() } });
    await recordAudit(db, { actorId: ownerId, action: "run.cancel", targetType: "run", targetId: runId, summary: `Cancelled ${run.status} run ${runId} of workflow "${run.workflowName}"`, data: { from: run.status } });
    if (this.held.has(runId)) return this.cancelHeld(runId);
    const unowned = await db.run.updateMany({
      where: { id: runId, status: { in: [...ACTIVE, "waiting"] }, OR: [{ leaseExpiresAt: null }, { leaseExpiresAt: { lt: new Date() } }] },
      data: { status: "cancelled" },
    });
    if (unowned.count) {
      // A pending approval ends with the run (endWithoutExecuting cancels the step records left open).
      await endWithoutExecuting(this.deps, runId, "cancelled", CANCELLED_ERROR);
      this.options.dispatch?.announceSettled?.(runId);
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
    // Waiting for a concurrency slot: its attempt now finds it cancelled and lets it go (it never starts).
    for (const [group, waiters] of this.slotWaiters) {
      const waiter = waiters.get(runId);
      if (!waiter) continue;
      waiters.delete(runId);
      if (!waiters.size) this.slotWaiters.delete(group);
      waiter.retry();
    }
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
        // Fencing: a run another process claimed (this one stalled past its lease) stops executing here.
        const executing = [...this.executing.keys()];
        if (executing.length) {
          const lost = await db.run.findMany({ where: { id: { in: executing }, leaseOwner: { not: this.processId } }, select: { id: true } });
          for (const { id } of lost) this.executing.get(id)?.abort(leaseLost(id));
        }
      }
    } catch {
      // A failed check is retried on the next tick.
    }
  }

  /** Resolves when a run held by this process ends. */
  async waitForRun(runId: string): Promise<RunResult> {
    const done = this.finished.get(runId);
    if (done) return done;
    if (!this.options.dispatch) throw new OrchestratorError("INTERNAL", `run ${runId} is not executing in this process`);
    const result = await this.settledElsewhere(runId, Infinity);
    if (!result) throw new OrchestratorError("NOT_FOUND", `run "${runId}" does not exist`);
    return result;
  }

  /**
   * The result of a run executing in another process (a worker, or a process that took it over) once it ended or
   * waits for someone; null when `timeoutMs` passed first or the run does not exist. Its row is read at once, then
   * again whenever the executing process announces it settled (queue mode) and at the latest every poll interval.
   */
  async settledElsewhere(runId: string, timeoutMs: number): Promise<RunResult | null> {
    let wake: (() => void) | undefined;
    let announced = false;
    const onSettled = this.options.dispatch?.onSettled;
    // Listening before the first read: an end announced after it cannot be missed.
    const stopListening = await onSettled?.call(this.options.dispatch, runId, () => {
      announced = true;
      wake?.();
    });
    const pollMs = stopListening ? SETTLE_FALLBACK_POLL_MS : SETTLE_POLL_MS;
    const deadline = Date.now() + timeoutMs;
    try {
      for (;;) {
        announced = false;
        const [run] = await this.options.sql.queryCommitted<{ status: string; outputs: string | null; error: string | null }>(
          `SELECT "status", "outputs", "error" FROM "Run" WHERE "id" = ?`,
          [runId],
        );
        if (!run) return null;
        const status = run.status as RunStatus;
        if (TERMINAL.includes(status) || status === "waiting")
          return { runId, status, outputs: JSON.parse(run.outputs ?? "{}"), ...(run.error ? { error: JSON.parse(run.error) } : {}) };
        const left = deadline - Date.now();
        if (left <= 0) return null;
        if (announced) continue; // announced while the row was read (a takeover's attempt that lost its lease, say)
        let timer: NodeJS.Timeout | undefined;
        await new Promise<void>((resolve) => {
          wake = resolve;
          timer = setTimeout(resolve, Math.min(pollMs, left));
        });
        clearTimeout(timer);
        wake = undefined;
      }
    } finally {
      stopListening?.();
    }
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
