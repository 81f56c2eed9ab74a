import { Worker } from "node:worker_threads";
import { ExpressionBoundError } from "./bounded.mjs";
import type { ExpressionLimits } from "./limits";

const WORKER_URL = new URL("./worker.mjs", import.meta.url);
/** Beyond its time limit a worker is terminated (JSONata's own guard answers first unless one call runs away). */
const GRACE_MS = 250;
/**
 * How long a new worker may take to start (load its modules) before the evaluation fails. Kept apart from the
 * expression's time limit: on a busy machine a worker's start alone can take longer than a whole evaluation may.
 */
const BOOT_MS = 30_000;

/** An expression's own failure, reported by a worker (what JSONata said). */
export class ExpressionFailure extends Error {}

interface Job {
  id: number;
  expression: string;
  doc: unknown;
  limits: ExpressionLimits;
  signal?: AbortSignal;
  resolve(value: unknown): void;
  reject(error: unknown): void;
  detach(): void;
}

interface Slot {
  worker?: Worker;
  /** The worker has started (said so): evaluations sent to it are timed from the moment they are sent. */
  ready?: boolean;
  /** The heap limit the worker was started with. */
  memoryMb?: number;
  job?: Job;
  timer?: NodeJS.Timeout;
}

type Reply = { ready: true } | { id: number; ok: true; value: unknown } | { id: number; ok: false; bound?: ExpressionBoundError["limit"]; message: string };

/**
 * The expression worker threads: evaluations that did not fit the in-line budget run here, one per worker at
 * a time, the rest wait in order. A worker that overruns its time is terminated (and replaced on demand), one
 * whose heap is full is terminated by Node; either way the evaluation fails with its bound and the server goes
 * on. Idle workers do not keep the process alive.
 */
export class ExpressionWorkers {
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private nextId = 1;

  /** `workerUrl`: the worker script (tests start one that is slow to start). */
  constructor(private readonly workerUrl: URL = WORKER_URL) {}

  evaluate(expression: string, doc: unknown, limits: ExpressionLimits, signal?: AbortSignal): Promise<unknown> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const onAbort = () => this.abort(job);
      const job: Job = {
        id: this.nextId++,
        expression,
        doc,
        limits,
        signal,
        resolve,
        reject,
        detach: () => signal?.removeEventListener("abort", onAbort),
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.queue.push(job);
      this.dispatch();
    });
  }

  /** How many evaluations run in workers now, and how many wait. */
  get load() {
    return { running: this.slots.filter((s) => s.job).length, waiting: this.queue.length, workers: this.slots.filter((s) => s.worker).length };
  }

  /** Terminates every worker (tests, shutdown); waiting evaluations fail. */
  async close() {
    for (const job of this.queue.splice(0)) this.settle(job, () => job.reject(new Error("the expression workers were closed")));
    await Promise.all(
      this.slots.map((slot) => {
        if (slot.job) this.finish(slot, (job) => job.reject(new Error("the expression workers were closed")));
        const worker = slot.worker;
        slot.worker = undefined;
        return worker?.terminate();
      }),
    );
  }

  private dispatch() {
    while (this.queue.length) {
      let slot = this.slots.find((s) => !s.job);
      if (!slot) {
        if (this.slots.length >= this.queue[0].limits.workers) return;
        slot = {};
        this.slots.push(slot);
      }
      this.start(slot, this.queue.shift()!);
    }
  }

  private start(slot: Slot, job: Job) {
    if (slot.memoryMb !== job.limits.memoryMb) this.replace(slot);
    const worker = (slot.worker ??= this.spawn(slot, job.limits));
    slot.memoryMb = job.limits.memoryMb;
    slot.job = job;
    worker.ref();
    if (slot.ready) return this.send(slot, worker, job);
    // Sent once the worker says it has started (`send`); its start is bounded on its own.
    slot.timer = setTimeout(() => {
      this.replace(slot);
      this.finish(slot, (j) => j.reject(new ExpressionFailure(`an expression worker did not start within ${BOOT_MS / 1000} s (the machine is overloaded?); try again`)));
    }, BOOT_MS);
  }

  /** Hands the slot's job to its started worker; the expression's time limit counts from here. */
  private send(slot: Slot, worker: Worker, job: Job) {
    clearTimeout(slot.timer);
    slot.timer = setTimeout(() => {
      this.replace(slot);
      this.finish(slot, (j) => j.reject(new ExpressionBoundError("time", `the expression ran longer than ${j.limits.timeoutMs} ms (an endless loop?)`)));
    }, job.limits.timeoutMs + GRACE_MS);
    try {
      worker.postMessage({ id: job.id, expression: job.expression, doc: job.doc, limits: job.limits });
    } catch (err) {
      this.finish(slot, (j) => j.reject(new ExpressionFailure(`the data cannot be passed to the expression: ${(err as Error).message}`)));
    }
  }

  private spawn(slot: Slot, limits: ExpressionLimits): Worker {
    slot.ready = false;
    const worker = new Worker(this.workerUrl, {
      resourceLimits: { maxOldGenerationSizeMb: limits.memoryMb, maxYoungGenerationSizeMb: 16, stackSizeMb: 4 },
      stdout: true,
      stderr: true,
    });
    worker.unref();
    worker.on("message", (reply: Reply) => {
      if (slot.worker !== worker) return;
      if ("ready" in reply) {
        slot.ready = true;
        if (slot.job) this.send(slot, worker, slot.job);
        return;
      }
      if (slot.job?.id !== reply.id) return;
      this.finish(slot, (job) => {
        if (reply.ok) job.resolve(reply.value);
        else job.reject(reply.bound ? new ExpressionBoundError(reply.bound, reply.message) : new ExpressionFailure(reply.message));
      });
    });
    const lost = (err?: Error) => {
      if (slot.worker !== worker) return;
      slot.worker = undefined;
      slot.ready = false;
      const outOfMemory = (err as { code?: string } | undefined)?.code === "ERR_WORKER_OUT_OF_MEMORY";
      this.finish(slot, (job) =>
        job.reject(
          outOfMemory
            ? new ExpressionBoundError("memory", `the expression used more than ${job.limits.memoryMb} MB of memory`)
            : new ExpressionFailure(`the expression worker stopped${err ? `: ${err.message}` : ""}`),
        ),
      );
    };
    worker.on("error", lost);
    worker.on("exit", () => lost());
    return worker;
  }

  /** Ends the slot's job (if any) and goes on with the queue. */
  private finish(slot: Slot, settle: (job: Job) => void) {
    const job = slot.job;
    clearTimeout(slot.timer);
    slot.job = undefined;
    slot.worker?.unref();
    if (job) this.settle(job, () => settle(job));
    this.dispatch();
  }

  private settle(job: Job, settle: () => void) {
    job.detach();
    settle();
  }

  /** Terminates the slot's worker; the next job starts a fresh one. */
  private replace(slot: Slot) {
    const worker = slot.worker;
    slot.worker = undefined;
    slot.ready = false;
    void worker?.terminate();
  }

  private abort(job: Job) {
    const waiting = this.queue.indexOf(job);
    if (waiting >= 0) {
      this.queue.splice(waiting, 1);
      return this.settle(job, () => job.reject(job.signal?.reason ?? new Error("aborted")));
    }
    const slot = this.slots.find((s) => s.job === job);
    if (!slot) return;
    this.replace(slot);
    this.finish(slot, (j) => j.reject(j.signal?.reason ?? new Error("aborted")));
  }
}

const KEY = Symbol.for("llm-orchestrator.expression-workers");

/** The process's expression workers (on globalThis: the Next bundle and server.ts share them). */
export function expressionWorkers(): ExpressionWorkers {
  const holder = globalThis as { [KEY]?: ExpressionWorkers };
  return (holder[KEY] ??= new ExpressionWorkers());
}
