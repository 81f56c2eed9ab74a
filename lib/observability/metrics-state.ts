import type { Metrics } from "./metrics";

/**
 * Whether this process records metrics, without loading prom-client: a process records them once `metrics()`
 * (metrics.ts) created its registry — server.ts does at start, /metrics on its first scrape. A CLI process never
 * does (nothing could scrape it), so running a workflow from the command line does not load prom-client.
 */
export const METRICS_KEY = Symbol.for("orchestrator.metrics");
const QUEUES_KEY = Symbol.for("orchestrator.metrics.queues");
const SHARED_QUEUE_KEY = Symbol.for("orchestrator.metrics.sharedQueue");

type Holder = { [METRICS_KEY]?: Metrics; [QUEUES_KEY]?: Set<WeakRef<ObservedQueue>>; [SHARED_QUEUE_KEY]?: SharedRunQueue };

/** Queue mode's run queue (BullMQ), read when /metrics is scraped. */
export interface SharedRunQueue {
  depth(): Promise<number>;
  workers(): Promise<number>;
}

/** In queue mode `orchestrator_queue_depth` is the shared queue's depth, and `orchestrator_queue_workers` its workers. */
export function observeSharedQueue(queue: SharedRunQueue | undefined): void {
  (globalThis as Holder)[SHARED_QUEUE_KEY] = queue;
}

export function observedSharedQueue(): SharedRunQueue | undefined {
  return (globalThis as Holder)[SHARED_QUEUE_KEY];
}

export interface ObservedQueue {
  readonly size: { waiting: number };
}

/** The process's metrics if it records them. */
export function recordingMetrics(): Metrics | undefined {
  return (globalThis as Holder)[METRICS_KEY];
}

/** A run queue whose waiting runs `orchestrator_queue_depth` counts (held weakly: a closed runner drops out). */
export function observeQueue(queue: ObservedQueue): void {
  observedQueues().add(new WeakRef(queue));
}

export function observedQueues(): Set<WeakRef<ObservedQueue>> {
  return ((globalThis as Holder)[QUEUES_KEY] ??= new Set());
}
