import { randomUUID } from "node:crypto";
import type { SqlCheckpointSaver } from "@/lib/checkpoint/sql-saver";
import type { Db } from "@/lib/db";
import type { SqlConnection } from "@/lib/db/sql";
import { maxTakeovers } from "@/lib/config";
import { SCHEDULER_NODE } from "@/lib/engine/compile";
import { InvalidRunError, leaseLost, OrchestratorError, serializeError } from "@/lib/engine/errors";
import type { RunStatus } from "@/lib/realtime/events";
import { schemaProblems } from "@/lib/workflow/input";
import { nestingIssue, nestingProblem } from "@/lib/workflow/limits";
import { callbackToken } from "@/lib/engine/steps/wait-webhook";
import { sameSecret } from "@/lib/secrets";
import { getWorkflow } from "@/lib/workflows/repository";
import { forkCommand, getCheckpointState, inspectionGraph, listCheckpoints, ownedRun, readCheckpoint, resumeCommand, stateEdits } from "./checkpoints";
import { announceQueued, createQueuedRun, type StartRunOptions } from "./create-run";
import { silentPublisher, type RunPublisher } from "./events";
import { RunQueue } from "./queue";
import { CANCELLED_ERROR, endCrashLoop, endWithoutExecuting, executeRun, type RunResult } from "./run";

export type { StartRunOptions } from "./create-run";

export interface RunnerOptions {
  db: Db;
  sql: SqlConnection;
  checkpointer: SqlCheckpointSaver;
  publisher?: RunPublisher;
  concurrency: number;
  /** How long a run's lease lasts without renewal (env ORCHESTRATOR_LEASE_MS, default 15 s). */
  leaseMs?: number;
  /** How often a run may be taken over before it fails with CRASH_LOOP (env ORCHESTRATOR_MAX_TAKEOVERS, default 3). */
  maxTakeovers?: number;
}

/** How often a process looks for cancel requests of its runs (cancel must land within a second). */
const WATCH_MS = 250;

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
  private readonly maxTakeovers: number;
  readonly processId = `proc_${randomUUID()}`;
  publisher: RunPublisher;

  constructor(private readonly options: RunnerOptions) {
    this.queue = new RunQueue(options.concurrency);
    this.publisher = options.publisher ?? silentPublisher;
    this.leaseMs = options.leaseMs ?? (Number(process.env.ORCHESTRATOR_LEASE_MS) || 15_000);
    this.maxTakeovers = options.maxTakeovers ?? maxTakeovers();
  }

  private get deps() {
    return { db: this.options.db, sql: this.options.sql, checkpointer: this.options.checkpointer, publisher: this.publisher };
  }

  private leaseUntil() {
    return new Date(Date.now() + this.leaseMs);
  }

  /** Validates definition and input, stores the queued run and schedules it. Throws InvalidRunError. */
  async startRun(options: StartRunOptions): Promise<{ runId: string }> {
    const { runId } = await createQueuedRun(this.deps, { ...options, leaseOwner: this.processId, leaseExpiresAt: this.leaseUntil() });
    this.schedule(runId);
    return { runId };
  }

  private schedule(runId: string) {
    this.hold(runId, this.queue.enqueue(() => this.execute(runId)));
  }

  /** Keeps the lease of a run renewed while `work` on it goes on here, and its result for `waitForRun`. */
  private hold(runId: string, done: Promise<RunResult>) {
    this.held.add(runId);
    this.watch();
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
        const result = await executeRun(this.deps, runId, controller.signal);
        if (run.parentStepId && TERMINAL.includes(result.status)) await this.wakeParent(run.parentRunId!);
        return result;
      } catch (err) {
        return await endWithoutExecuting(this.deps, runId, "failed", serializeError(err));
      } finally {
        this.executing.delete(runId);
      }
    } finally {
      this.held.delete(runId);
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
  private async takeOver(runId: string): Promise<"resumed" | "crash-loop" | false> {
    const [claimed] = await this.options.db.run.updateManyAndReturn({
      where: { id: runId, ...orphaned() },
      data: { leaseOwner: this.processId, leaseExpiresAt: this.leaseUntil(), takeovers: { increment: 1 } },
      select: { takeovers: true, parentStepId: true, parentRunId: true },
    });
    if (!claimed) return false;
    if (claimed.takeovers <= this.maxTakeovers) {
      this.schedule(runId);
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
        throw new OrchestratorError("INVALID_INPUT", `run "${runId}" is waiting for an approval; decide it with: orchestrator approve ${runId} [--reject]`);
      if (!ACTIVE.includes(run.status as RunStatus))
        throw new OrchestratorError("INVALID_INPUT", `run "${runId}" has already succeeded; resume from one of its checkpoints or fork it instead`);
      if (this.held.has(runId)) return { runId };
      if (await this.takeOver(runId)) return { runId };
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
    await this.requeue(run.id, ["failed", "cancelled"], { definition, workflowVersion });
    await db.auditLog.create({
      data: { actorId: ownerId, action: "run.resume", targetType: "run", targetId: run.id, data: JSON.stringify({ from: run.status, workflowVersion }) },
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
  private async requeue(runId: string, from: RunStatus[], data: { definition?: string; workflowVersion?: number | null; resumeValue?: string } = {}) {
    const claimed = await this.options.db.run.updateMany({
      where: { id: runId, status: { in: from } },
      data: {
        status: "queued",
        error: null,
        finishedAt: null,
        resumeValue: null,
        cancelRequestedAt: null,
        leaseOwner: this.processId,
        leaseExpiresAt: this.leaseUntil(),
        // Started again on purpose (by hand, a decision or a callback): crashes before this do not count.
        takeovers: 0,
        ...data,
      },
    });
    if (!claimed.count) throw new OrchestratorError("INVALID_INPUT", `run "${runId}" changed meanwhile (someone else resumed or decided it); reload it`);
    await announceQueued(this.deps, runId);
  }


  /**
   * Time travel, "resume from here": the run goes on from one of its checkpoints, re-running every step that
   * followed it (LangGraph forks the thread at that checkpoint; the run keeps its id). Step records made after
   * that point are dropped, so the run page shows the new course.
   */
  async resumeFromCheckpoint(runId: string, ownerId: string, checkpointId: string): Promise<{ runId: string }> {
    const run = await ownedRun(this.options.db, ownerId, runId);
    if (ACTIVE.includes(run.status as RunStatus))
      throw new OrchestratorError("INVALID_INPUT", `run "${runId}" is still ${run.status}; cancel it or wait for it to end before going back to a checkpoint`);
    const read = await readCheckpoint(run, this.options.checkpointer, checkpointId);
    const { compiled, state } = read;
    if (!state.next.length) throw new OrchestratorError("INVALID_INPUT", `nothing follows checkpoint "${checkpointId}": the run had ended there; pick an earlier checkpoint`);
    await compiled.graph.updateState({ configurable: { thread_id: runId, checkpoint_id: checkpointId } }, resumeCommand(read), SCHEDULER_NODE);
    await this.forgetStepsAfter(runId, compiled.spec.stepIds, state.executions);
    await this.requeue(runId, ["succeeded", "failed", "cancelled", "waiting"]);
    await this.options.db.auditLog.create({ data: { actorId: ownerId, action: "run.rewind", targetType: "run", targetId: runId, data: JSON.stringify({ checkpointId }) } });
    this.schedule(runId);
    return { runId };
  }

  /**
   * Time travel, "fork": a new run, linked to its parent, that starts from one of the parent's checkpoints with
   * edited state (`steps.<id>...`, `vars.<name>...`, `input...` = value, applied with LangGraph `updateState`)
   * and runs what follows. The parent stays as it was; the fork inherits the records of the steps before.
   */
  async forkRun(runId: string, ownerId: string, options: { checkpointId: string; set?: Record<string, unknown> }): Promise<{ runId: string }> {
    const { db, checkpointer } = this.options;
    // Edited values go into the checkpoint, whose serializer recurses per level: bounded before anything else.
    for (const [path, value] of Object.entries(options.set ?? {})) {
      const tooDeep = nestingProblem(value, path);
      if (tooDeep) throw new OrchestratorError("INVALID_INPUT", `--set ${tooDeep.message}`);
    }
    const parent = await ownedRun(db, ownerId, runId);
    const read = await readCheckpoint(parent, checkpointer, options.checkpointId);
    const { compiled, state } = read;
    const edits = stateEdits(state, compiled.spec.stepIds, options.set ?? {});

    // Created like every run: the definition and an edited input are checked again.
    const { runId: forkId } = await createQueuedRun(this.deps, {
      definition: JSON.parse(parent.definition),
      input: edits.input ?? state.values.input,
      ownerId,
      workflowVersion: parent.workflowVersion ?? undefined,
      source: parent.source as StartRunOptions["source"],
      parentRunId: runId,
      parentCheckpointId: options.checkpointId,
      leaseOwner: this.processId,
      leaseExpiresAt: this.leaseUntil(),
    });
    // The fork's thread starts with one checkpoint: the parent's state at that point with the edits on top of it
    // (the outputs as one snapshot), and what followed that point to run next.
    await compiled.graph.updateState({ configurable: { thread_id: forkId } }, forkCommand(read, edits), SCHEDULER_NODE);

    const inherited = await db.stepRun.findMany({ where: { runId }, orderBy: { startedAt: "asc" } });
    const kept = inherited.filter((row) => row.execution <= (state.executions[row.stepId] ?? 0));
    if (kept.length)
      await db.stepRun.createMany({
        data: kept.map(({ id: _id, runId: _run, ...row }) => ({
          ...row,
          runId: forkId,
          ...(row.stepId in edits.changedSteps && row.execution === state.executions[row.stepId] ? { output: JSON.stringify(edits.changedSteps[row.stepId]) } : {}),
        })),
      });
    await db.auditLog.create({
      data: { actorId: ownerId, action: "run.fork", targetType: "run", targetId: forkId, data: JSON.stringify({ parentRunId: runId, checkpointId: options.checkpointId, set: options.set ?? {} }) },
    });
    this.schedule(forkId);
    return { runId: forkId };
  }

  /** The run's checkpoints, newest first (read side of the checkpoint browser). */
  listCheckpoints(runId: string, ownerId: string) {
    return listCheckpoints(this.deps, ownerId, runId);
  }

  /** The full state at one of the run's checkpoints and what would run next. */
  checkpointState(runId: string, ownerId: string, checkpointId: string) {
    return getCheckpointState(this.deps, ownerId, runId, checkpointId);
  }

  /** Drops step records made after a checkpoint (executions beyond the ones it had seen). */
  private async forgetStepsAfter(runId: string, stepIds: string[], executions: Record<string, number>) {
    const { db } = this.options;
    await db.stepRun.deleteMany({ where: { runId, OR: stepIds.map((stepId) => ({ stepId, execution: { gt: executions[stepId] ?? 0 } })) } });
  }

  /**
   * Records the decision on a run's pending approval (who and when) and resumes the run here with it. With a
   * form, approved data must match the form's JSON Schema. Throws NOT_FOUND / INVALID_INPUT.
   */
  async decideApproval(
    runId: string,
    ownerId: string,
    decision: { approved: boolean; data?: unknown; comment?: string; decidedBy: string },
  ): Promise<{ runId: string }> {
    const { db } = this.options;
    const tooDeep = nestingProblem(decision.data, "data");
    if (tooDeep) throw new OrchestratorError("INVALID_INPUT", `the approval data is refused: ${tooDeep.message}`);
    const run = await ownedRun(db, ownerId, runId);
    const pending = await db.stepRun.findFirst({ where: { runId, status: "waiting" }, orderBy: { startedAt: "desc" } });
    if (run.status !== "waiting" || !pending)
      throw new OrchestratorError("INVALID_INPUT", `run "${runId}" is not waiting for an approval (it is ${run.status})`);
    const request = JSON.parse(pending.output ?? "{}") as { kind?: string; form?: Record<string, unknown> | null };
    if (request.kind === "subworkflow")
      throw new OrchestratorError("INVALID_INPUT", `run "${runId}" waits for its sub-workflow run at step "${pending.stepId}"; decide it there (${JSON.stringify(request)})`);
    if (request.kind !== "approval")
      throw new OrchestratorError("INVALID_INPUT", `run "${runId}" waits for a callback at step "${pending.stepId}", not for an approval; call its callback URL`);
    if (decision.approved && request.form) {
      const problems = schemaProblems(request.form, decision.data ?? {}, "data");
      if (problems.length) throw new OrchestratorError("INVALID_INPUT", `the approval form is not filled in correctly: ${problems.join("; ")}`, { stepId: pending.stepId });
    }
    const resumeValue = { ...decision, decidedAt: new Date().toISOString() };
    await this.requeue(runId, ["waiting"], { resumeValue: JSON.stringify(resumeValue) });
    await db.auditLog.create({
      data: {
        actorId: ownerId,
        action: decision.approved ? "run.approve" : "run.reject",
        targetType: "run",
        targetId: runId,
        data: JSON.stringify({ stepId: pending.stepId, decidedBy: decision.decidedBy, comment: decision.comment ?? null }),
      },
    });
    this.schedule(runId);
    return { runId };
  }

  /**
   * Delivers the call a run waits for at a wait_webhook step: the token in the callback URL (bound to run, step
   * and execution) is the credential; the body becomes the step's output and the run resumes here. Each callback
   * URL works once. Throws NOT_FOUND for a wrong URL, InvalidRunError (INVALID_INPUT) for a body nested deeper
   * than the nesting limit, OrchestratorError INVALID_INPUT when that step no longer waits.
   */
  async deliverCallback(runId: string, stepId: string, execution: number, token: string, body: unknown): Promise<{ runId: string }> {
    const { db } = this.options;
    if (!sameSecret(token, callbackToken(runId, stepId, execution))) throw new OrchestratorError("NOT_FOUND", "unknown callback URL");
    // The body becomes the step's output and goes through the checkpoint serializer: bounded first (a 400).
    const tooDeep = nestingIssue(body, "body");
    if (tooDeep) throw new InvalidRunError("INVALID_INPUT", [tooDeep], "the callback body");
    const pending = await db.stepRun.findFirst({ where: { runId, stepId, execution, status: "waiting" } });
    if (!pending) throw new OrchestratorError("INVALID_INPUT", `step "${stepId}" of run "${runId}" is not waiting for this callback (already called, or the run ended)`);
    await this.requeue(runId, ["waiting"], { resumeValue: JSON.stringify({ body, receivedAt: new Date().toISOString() }) });
    const run = await db.run.findUniqueOrThrow({ where: { id: runId }, select: { ownerId: true } });
    await db.auditLog.create({ data: { actorId: run.ownerId, action: "run.callback", targetType: "run", targetId: runId, data: JSON.stringify({ stepId, execution }) } });
    this.schedule(runId);
    return { runId };
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
    await db.auditLog.create({ data: { actorId: ownerId, action: "run.cancel", targetType: "run", targetId: runId } });
    if (this.held.has(runId)) return this.cancelHeld(runId);
    const unowned = await db.run.updateMany({
      where: { id: runId, status: { in: [...ACTIVE, "waiting"] }, OR: [{ leaseExpiresAt: null }, { leaseExpiresAt: { lt: new Date() } }] },
      data: { status: "cancelled" },
    });
    if (unowned.count) {
      // A pending approval ends with the run.
      await db.stepRun.updateMany({ where: { runId, status: "waiting" }, data: { status: "failed", error: JSON.stringify(CANCELLED_ERROR), finishedAt: new Date() } });
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
