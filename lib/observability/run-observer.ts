import type { Attributes, Span } from "@opentelemetry/api";
import type { EngineHooks } from "@/lib/engine/compile";
import { isLeaseLost, type SerializedError } from "@/lib/engine/errors";
import type { RuntimeSettings } from "@/lib/engine/steps/types";
import { logger, withLogFields } from "@/lib/logger";
import { costUsd } from "@/lib/pricing";
import type { RunStatus } from "@/lib/runner/event-types";
import type { WorkflowStep } from "@/lib/workflow/schema";
import { recordingMetrics } from "./metrics-state";
import { runSpanId, runTraceId, runTracer, type RunTracer } from "./tracing";

/**
 * What the runner tells the outside about a run while it executes: Prometheus metrics (metrics.ts), an
 * OpenTelemetry span per step attempt under the run's trace (tracing.ts), and log lines that carry the run's and
 * step's ids. The runner creates one per execution of a run (run.ts: `executeRun`) and routes the engine's hooks
 * through it (`engineHooks`); it observes only, it never writes run state.
 */
export interface ObservedRunRecord {
  id: string;
  workflowId: string;
  startedAt: unknown;
  parentRunId: string | null;
}

/** The kinds whose attempts are model calls (GenAI semantic conventions: operation names). */
const GEN_AI_OPERATIONS: Record<string, string> = { llm: "chat", kilo: "invoke_agent" };
/** The gateway speaks the OpenAI API (gen_ai.provider.name; gen_ai.system is its earlier name). */
const GEN_AI_PROVIDER = "openai";
const MAX_LOGGED_TEXT = 2_000;
// Its log lines are at debug level: the CLI shares the logger and standard output with its results (`--json`).

interface OpenAttempt {
  span: Span;
  attempt: number;
  model?: string;
  inputTokens: number;
  outputTokens: number;
}

export class RunObserver {
  private run?: ObservedRunRecord;
  private workflowLabel = "unknown";
  private settings: RuntimeSettings = {};
  private tracing: RunTracer | null = null;
  /** When this execution began; the run's start when it is its first. */
  private startedAt = new Date();
  private readonly attempts = new Map<string, OpenAttempt>();
  /** Undefined in a process that does not record metrics (the CLI). */
  private readonly metrics = recordingMetrics();

  /** Counted in orchestrator_active_runs (from `begin` to `end`). */
  private active = false;

  constructor(readonly runId: string) {}

  /** The run's row was read and its settings: from here on its steps are observed. */
  async begin(run: ObservedRunRecord, settings: RuntimeSettings): Promise<void> {
    this.settings = settings;
    this.active = true;
    this.metrics?.activeRuns.inc();
    await this.identify(run);
    if (run.startedAt == null) this.metrics?.runsStarted.inc({ workflow: this.workflowLabel });
    logger.debug({ workflowId: run.workflowId, resumed: run.startedAt != null }, "run executing");
  }

  /**
   * The execution ended with `status` (`running`: the lease was lost, another process goes on; undefined: it threw,
   * and the runner ends the run with `observeRunEndedWithoutExecution`). A final status counts the run as finished
   * and ends its root span, which spans from the run's first start.
   */
  end(status: RunStatus | "running" | undefined, error?: SerializedError): void {
    if (this.active) this.metrics?.activeRuns.dec();
    this.active = false;
    for (const open of this.attempts.values()) open.span.end(); // a lost lease or an abort between hooks
    this.attempts.clear();
    if (status === "succeeded" || status === "failed" || status === "cancelled") this.finished(status, error);
    else logger.debug({ status: status ?? "failed to execute", ...(error ? { errorCode: error.code } : {}) }, status === "waiting" ? "run waiting" : status === "running" ? "run left to another process" : "run execution failed");
  }

  private async identify(run: ObservedRunRecord) {
    this.run = run;
    if (this.metrics) this.workflowLabel = this.metrics.workflows.value(run.workflowId);
    if (run.startedAt != null) this.startedAt = new Date(run.startedAt as string | Date);
    this.tracing = await runTracer();
  }

  private finished(status: "succeeded" | "failed" | "cancelled", error?: SerializedError) {
    const seconds = Math.max(0, (Date.now() - this.startedAt.getTime()) / 1000);
    this.metrics?.runsFinished.inc({ workflow: this.workflowLabel, status });
    this.metrics?.runDuration.observe({ workflow: this.workflowLabel, status }, seconds);
    this.endRunSpan(status, error);
    logger.debug({ status, durationMs: Math.round(seconds * 1000), ...(error ? { errorCode: error.code } : {}) }, "run ended");
  }

  /**
   * A run ended without an execution: cancelled while queued or waiting, a crash loop, an execution that could not
   * start. Counted as finished like the others, and its root span exported (from its start, else its creation).
   */
  static async endedWithoutExecution(run: ObservedRunRecord & { createdAt: Date }, status: "failed" | "cancelled", error: SerializedError): Promise<void> {
    const observer = new RunObserver(run.id);
    await observer.identify({ ...run, startedAt: run.startedAt ?? run.createdAt });
    withLogFields({ runId: run.id }, () => observer.finished(status, error));
  }

  /** The engine's hooks with the observation in front of each (the runner's own handlers run unchanged after it). */
  engineHooks(hooks: EngineHooks): EngineHooks {
    return {
      ...hooks,
      inStepScope: (stepId, body) => withLogFields({ runId: this.runId, stepId }, body),
      onStepStart: (step, execution, renderedConfig) => {
        this.startAttempt(step, execution, 1, renderedConfig);
        logger.debug({ kind: step.type, execution }, "step started");
        return hooks.onStepStart?.(step, execution, renderedConfig);
      },
      onStepRetry: (step, execution, attempt, error, delayMs) => {
        this.metrics?.stepRetries.inc({ kind: step.type });
        const open = this.attempts.get(key(step.id, execution));
        this.endAttempt(step.id, execution, "failed", error);
        // The next attempt starts after the back-off.
        this.startAttempt(step, execution, attempt + 1, open?.model !== undefined ? { model: open.model } : undefined, Date.now() + delayMs);
        logger.debug({ kind: step.type, execution, attempt, errorCode: error.code, delayMs }, "step attempt failed, retrying");
        return hooks.onStepRetry?.(step, execution, attempt, error, delayMs);
      },
      onStepSuccess: (step, execution, output, durationMs, attempts) => {
        this.stepEnded(step, execution, "succeeded", durationMs);
        return hooks.onStepSuccess?.(step, execution, output, durationMs, attempts);
      },
      onStepFailure: (step, execution, error, durationMs, attempts) => {
        const cancelled = hooks.signal?.aborted === true && !isLeaseLost(hooks.signal.reason);
        this.stepEnded(step, execution, cancelled ? "cancelled" : "failed", durationMs, error);
        return hooks.onStepFailure?.(step, execution, error, durationMs, attempts);
      },
      onStepWaiting: (step, execution, request) => {
        this.stepEnded(step, execution, "waiting");
        return hooks.onStepWaiting?.(step, execution, request);
      },
      onStepUsage: (stepId, execution, usage) => {
        this.usage(stepId, execution, usage);
        return hooks.onStepUsage?.(stepId, execution, usage);
      },
      onStepLog: (stepId, execution, level, text) => {
        logger.debug({ execution, stepLevel: level, text: text.length > MAX_LOGGED_TEXT ? `${text.slice(0, MAX_LOGGED_TEXT)}…` : text }, "step log");
        return hooks.onStepLog?.(stepId, execution, level, text);
      },
    };
  }

  private stepEnded(step: WorkflowStep, execution: number, status: string, durationMs?: number, error?: SerializedError) {
    if (durationMs !== undefined) this.metrics?.stepDuration.observe({ kind: step.type, status }, durationMs / 1000);
    // A step that failed before it started (the loop limit) still shows in the trace.
    if (!this.attempts.has(key(step.id, execution))) this.startAttempt(step, execution, 1);
    this.endAttempt(step.id, execution, status, error);
    logger.debug({ kind: step.type, execution, status, ...(durationMs !== undefined ? { durationMs } : {}), ...(error ? { errorCode: error.code } : {}) }, "step ended");
  }

  private usage(stepId: string, execution: number, usage: { model: string; promptTokens: number; completionTokens: number }) {
    const cost = costUsd(this.settings.prices ?? {}, usage.model, usage.promptTokens, usage.completionTokens);
    const m = this.metrics;
    if (m) {
      const model = m.models.value(usage.model);
      m.llmCalls.inc({ model });
      if (usage.promptTokens > 0) m.llmTokens.inc({ model, type: "input" }, usage.promptTokens);
      if (usage.completionTokens > 0) m.llmTokens.inc({ model, type: "output" }, usage.completionTokens);
      if (cost) m.llmCost.inc({ model }, cost);
    }
    const open = this.attempts.get(key(stepId, execution));
    if (!open) return;
    open.inputTokens += usage.promptTokens;
    open.outputTokens += usage.completionTokens;
    open.span.setAttributes({
      "gen_ai.response.model": usage.model,
      "gen_ai.usage.input_tokens": open.inputTokens,
      "gen_ai.usage.output_tokens": open.outputTokens,
      ...(cost !== null ? { "orchestrator.llm.cost_usd": cost } : {}),
    });
  }

  private startAttempt(step: WorkflowStep, execution: number, attempt: number, renderedConfig?: unknown, startTime?: number) {
    const tracing = this.tracing;
    if (!tracing) return;
    const operation = GEN_AI_OPERATIONS[step.type];
    const model = operation ? requestModel(renderedConfig, this.settings) : undefined;
    const attributes: Attributes = {
      "orchestrator.run.id": this.runId,
      "orchestrator.workflow.id": this.run?.workflowId ?? "",
      "orchestrator.step.id": step.id,
      "orchestrator.step.kind": step.type,
      "orchestrator.step.execution": execution,
      "orchestrator.step.attempt": attempt,
      ...(operation
        ? {
            "gen_ai.operation.name": operation,
            "gen_ai.provider.name": GEN_AI_PROVIDER,
            "gen_ai.system": GEN_AI_PROVIDER,
            ...(model ? { "gen_ai.request.model": model } : {}),
          }
        : {}),
    };
    // GenAI spans are named "{operation} {model}"; other steps by their id.
    const name = operation ? `${operation}${model ? ` ${model}` : ""}` : `step ${step.id}`;
    const span = tracing.tracer.startSpan(name, { attributes, kind: operation ? SPAN_KIND_CLIENT : SPAN_KIND_INTERNAL, startTime }, tracing.underRunSpan(this.runId));
    this.attempts.set(key(step.id, execution), { span, attempt, model, inputTokens: 0, outputTokens: 0 });
  }

  private endAttempt(stepId: string, execution: number, status: string, error?: SerializedError) {
    const open = this.attempts.get(key(stepId, execution));
    if (!open) return;
    this.attempts.delete(key(stepId, execution));
    open.span.setAttribute("orchestrator.step.status", status);
    if (error) {
      open.span.setAttribute("error.type", error.code);
      open.span.setStatus({ code: SPAN_STATUS_ERROR, message: error.message.slice(0, 500) });
    }
    open.span.end();
  }

  private endRunSpan(status: string, error?: SerializedError) {
    const tracing = this.tracing;
    if (!tracing || !this.run) return;
    const parent = this.run.parentRunId;
    const span = tracing.startRunSpan(this.runId, `run ${this.run.workflowId}`, {
      startTime: this.startedAt,
      attributes: {
        "orchestrator.run.id": this.runId,
        "orchestrator.workflow.id": this.run.workflowId,
        "orchestrator.run.status": status,
        ...(parent ? { "orchestrator.parent_run.id": parent } : {}),
      },
      // A sub-workflow's run (or a fork's) is a trace of its own, linked to the run it came from.
      links: parent ? [{ context: { traceId: runTraceId(parent), spanId: runSpanId(parent), traceFlags: 1 } }] : [],
    });
    if (error) {
      span.setAttribute("error.type", error.code);
      span.setStatus({ code: SPAN_STATUS_ERROR, message: error.message.slice(0, 500) });
    }
    span.end();
  }

}

// The values of @opentelemetry/api's enums, so this module does not load the package when tracing is off.
const SPAN_KIND_INTERNAL = 0;
const SPAN_KIND_CLIENT = 2;
const SPAN_STATUS_ERROR = 2;

const key = (stepId: string, execution: number) => `${stepId}\u0000${execution}`;

function requestModel(renderedConfig: unknown, settings: RuntimeSettings): string | undefined {
  const model = (renderedConfig as { model?: unknown } | undefined)?.model;
  return typeof model === "string" && model.trim() ? model.trim().slice(0, 200) : settings.defaultModel;
}
