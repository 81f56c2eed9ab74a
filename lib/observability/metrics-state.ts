import type { Metrics } from "./metrics";

/**
 * Whether this process records metrics, without loading prom-client: a process records them once `metrics()`
 * (metrics.ts) created its registry — server.ts does at start, /metrics on its first scrape. A CLI process never
 * does (nothing could scrape it), so running a workflow from the command line does not load prom-client.
 */
export const METRICS_KEY = Symbol.for("orchestrator.metrics");
const QUEUES_KEY = Symbol.for("orchestrator.metrics.queues");

type Holder = { [METRICS_KEY]?: Metrics; [QUEUES_KEY]?: Set<WeakRef<ObservedQueue>> };

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
