import { createHash } from "node:crypto";
import type { Context, Tracer } from "@opentelemetry/api";

/**
 * OpenTelemetry traces of runs, exported over OTLP/HTTP (JSON) when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set; without it nothing is loaded (the packages are imported on the
 * first run that would be traced) and nothing is exported. The exporter reads the other standard variables itself
 * (`OTEL_EXPORTER_OTLP_HEADERS`, `…_TIMEOUT`); `OTEL_SERVICE_NAME` defaults to "orchestrator",
 * `OTEL_RESOURCE_ATTRIBUTES` is added, `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none` turn it off, and
 * `OTEL_BSP_SCHEDULE_DELAY` (ms, default 1000) is how long finished spans wait to be sent in a batch.
 *
 * A run is one trace whatever the number of processes that execute it (a takeover after a crash, a decision made
 * elsewhere): its trace id and the id of its root span derive from the run id, every step attempt is a child of
 * that span, and the process that ends the run exports the root span itself, from the run's start.
 */
export interface RunTracer {
  tracer: Tracer;
  /** Starts the root span of a run with its derived ids (ended by the caller). */
  startRunSpan: Tracer["startSpan"] extends (...args: infer A) => infer R ? (runId: string, ...args: A) => R : never;
  /** The context for spans under a run's root span (step attempts), whichever process exports that span. */
  underRunSpan(runId: string): Context;
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}

export const DEFAULT_SERVICE_NAME = "orchestrator";

export function tracingConfigured(env: Record<string, string | undefined> = process.env): boolean {
  if (env.OTEL_SDK_DISABLED?.toLowerCase() === "true") return false;
  if (env.OTEL_TRACES_EXPORTER?.split(",").map((s) => s.trim()).includes("none")) return false;
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

/** The trace of a run: 32 hex digits derived from its id (the same in every process). */
export function runTraceId(runId: string): string {
  return createHash("sha256").update(`orchestrator.trace:${runId}`).digest("hex").slice(0, 32);
}

/** The id of a run's root span: 16 hex digits derived from its id. */
export function runSpanId(runId: string): string {
  return createHash("sha256").update(`orchestrator.span:${runId}`).digest("hex").slice(0, 16);
}

const KEY = Symbol.for("orchestrator.tracing");
type Holder = { [KEY]?: Promise<RunTracer | null> };

/** The process's run tracer, or null when tracing is not configured (decided once per process). */
export function runTracer(): Promise<RunTracer | null> {
  const holder = globalThis as Holder;
  holder[KEY] ??= tracingConfigured() ? startTracing().catch(() => null) : Promise.resolve(null);
  return holder[KEY];
}

/** Sends the spans still queued (CLI exit, server stop); a no-op when tracing never started. */
export async function flushTracing(): Promise<void> {
  const tracing = await (globalThis as Holder)[KEY];
  await tracing?.flush().catch(() => undefined);
}

async function startTracing(): Promise<RunTracer> {
  const [{ ROOT_CONTEXT, TraceFlags, trace }, { TracerProvider, BatchSpanProcessor, RandomIdGenerator }, { OTLPTraceExporter }, { resourceFromAttributes, detectResources, envDetector }] =
    await Promise.all([
      import("@opentelemetry/api"),
      import("@opentelemetry/sdk-trace"),
      import("@opentelemetry/exporter-trace-otlp-http"),
      import("@opentelemetry/resources"),
    ]);
  // Root spans of runs get the ids derived from the run; everything else random ones. The SDK asks for the trace
  // id, then the span id, synchronously inside startSpan, so `pending` is set only for that call.
  const random = new RandomIdGenerator();
  let pending: { traceId: string; spanId: string } | undefined;
  const idGenerator = {
    generateTraceId: () => pending?.traceId ?? random.generateTraceId(),
    generateSpanId: () => pending?.spanId ?? random.generateSpanId(),
  };
  const delay = Number(process.env.OTEL_BSP_SCHEDULE_DELAY);
  const resource = resourceFromAttributes({ "service.name": DEFAULT_SERVICE_NAME, "process.pid": process.pid }).merge(detectResources({ detectors: [envDetector] }));
  const provider = new TracerProvider({
    resource,
    idGenerator,
    spanProcessors: [new BatchSpanProcessor({ exporter: new OTLPTraceExporter(), scheduledDelayMillis: Number.isFinite(delay) && delay >= 0 ? delay : 1000 })],
  });
  const tracer = provider.getTracer("orchestrator");
  return {
    tracer,
    startRunSpan(runId, name, options, context) {
      pending = { traceId: runTraceId(runId), spanId: runSpanId(runId) };
      try {
        return tracer.startSpan(name, options, context ?? ROOT_CONTEXT);
      } finally {
        pending = undefined;
      }
    },
    underRunSpan: (runId) => trace.setSpanContext(ROOT_CONTEXT, { traceId: runTraceId(runId), spanId: runSpanId(runId), traceFlags: TraceFlags.SAMPLED }),
    flush: () => provider.forceFlush(),
    shutdown: () => provider.shutdown(),
  };
}
