import client from "prom-client";
import { BoundedLabel, labelLimitFromEnv } from "./labels";
import { METRICS_KEY, observedQueues, observedSharedQueue } from "./metrics-state";

/** How long a scrape waits for Redis (queue mode's depth and workers) before reporting them unknown (NaN). */
const SHARED_QUEUE_TIMEOUT_MS = 1_000;

function withinTimeout<T>(promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error("no answer")), SHARED_QUEUE_TIMEOUT_MS)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * The process's Prometheus metrics (prom-client), served at GET /metrics. All names start with `orchestrator_`,
 * prom-client's default process and Node.js metrics included (event-loop lag: `orchestrator_nodejs_eventloop_lag_*`).
 * Counters and histograms count what THIS process executed since it started (a CLI process or a second server
 * keeps its own); Prometheus sums over instances. Recorded by the runner's observer (run-observer.ts).
 *
 * Kept on globalThis: server.ts (the runner) and Next's bundle (the /metrics route) each load this module. Runs are
 * recorded once the registry exists (metrics-state.ts): server.ts creates it at start.
 */
export const METRIC_PREFIX = "orchestrator_";
/** Workflows with a label of their own (ORCHESTRATOR_METRICS_MAX_WORKFLOWS); later ones count under `other`. */
export const DEFAULT_MAX_WORKFLOW_LABELS = 50;
/** Models with a label of their own (ORCHESTRATOR_METRICS_MAX_MODELS). */
export const DEFAULT_MAX_MODEL_LABELS = 20;

const STEP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];
const RUN_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 600, 1800, 3600];

function createMetrics() {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX });
  const workflows = new BoundedLabel(labelLimitFromEnv("ORCHESTRATOR_METRICS_MAX_WORKFLOWS", DEFAULT_MAX_WORKFLOW_LABELS));
  const models = new BoundedLabel(labelLimitFromEnv("ORCHESTRATOR_METRICS_MAX_MODELS", DEFAULT_MAX_MODEL_LABELS));
  const queues = observedQueues();
  const registers = [registry];
  return {
    registry,
    workflows,
    models,
    runsStarted: new client.Counter({ name: "orchestrator_runs_started_total", help: "Runs this process started executing for the first time, by workflow", labelNames: ["workflow"], registers }),
    runsFinished: new client.Counter({
      name: "orchestrator_runs_finished_total",
      help: "Runs this process ended, by workflow and final status (succeeded, failed, cancelled)",
      labelNames: ["workflow", "status"],
      registers,
    }),
    runDuration: new client.Histogram({
      name: "orchestrator_run_duration_seconds",
      help: "Time from a run's start to its end (waiting for approvals included), by workflow and final status",
      labelNames: ["workflow", "status"],
      buckets: RUN_BUCKETS,
      registers,
    }),
    stepDuration: new client.Histogram({
      name: "orchestrator_step_duration_seconds",
      help: "Duration of step executions (all attempts), by step kind and outcome",
      labelNames: ["kind", "status"],
      buckets: STEP_BUCKETS,
      registers,
    }),
    stepRetries: new client.Counter({ name: "orchestrator_step_retries_total", help: "Step attempts that failed and were tried again, by step kind", labelNames: ["kind"], registers }),
    llmTokens: new client.Counter({
      name: "orchestrator_llm_tokens_total",
      help: "Tokens of LLM calls, by model and type (input, output)",
      labelNames: ["model", "type"],
      registers,
    }),
    llmCost: new client.Counter({ name: "orchestrator_llm_cost_usd_total", help: "Price of LLM calls in US dollars (models with a price), by model", labelNames: ["model"], registers }),
    llmCalls: new client.Counter({ name: "orchestrator_llm_calls_total", help: "LLM calls that reported usage, by model", labelNames: ["model"], registers }),
    activeRuns: new client.Gauge({ name: "orchestrator_active_runs", help: "Runs executing in this process now", registers }),
    queueDepth: new client.Gauge({
      name: "orchestrator_queue_depth",
      help: "Runs waiting for a free execution slot: in this process's queue, or in queue mode in the shared BullMQ queue (NaN while Redis does not answer)",
      registers,
      async collect() {
        const shared = observedSharedQueue();
        if (shared) {
          this.set(await withinTimeout(shared.depth()).catch(() => NaN));
          return;
        }
        let waiting = 0;
        for (const ref of queues) {
          const queue = ref.deref();
          if (queue) waiting += queue.size.waiting;
          else queues.delete(ref);
        }
        this.set(waiting);
      },
    }),
    queueWorkers: new client.Gauge({
      name: "orchestrator_queue_workers",
      help: "Workers connected to the run queue (queue mode; 0 when this process executes its runs itself; NaN while Redis does not answer)",
      registers,
      async collect() {
        const shared = observedSharedQueue();
        this.set(shared ? await withinTimeout(shared.workers()).catch(() => NaN) : 0);
      },
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/** The process's metrics, created on first use; from then on the runner records into them. */
export function metrics(): Metrics {
  const holder = globalThis as { [METRICS_KEY]?: Metrics };
  return (holder[METRICS_KEY] ??= createMetrics());
}

/** The exposition text and its content type. */
export async function metricsExposition(): Promise<{ text: string; contentType: string }> {
  const { registry } = metrics();
  return { text: await registry.metrics(), contentType: registry.contentType };
}
