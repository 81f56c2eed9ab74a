import { Annotation, Command, END, isGraphInterrupt, START, StateGraph, type BaseCheckpointSaver, type LangGraphRunnableConfig } from "@langchain/langgraph";
import type { ExpressionContext } from "@/lib/workflow/expression";
import { buildGraph, readySteps, type GraphSpec } from "@/lib/workflow/graph";
import { outputSchemaProblems } from "@/lib/workflow/input";
import { nestingProblem } from "@/lib/workflow/limits";
import { DEFAULT_MAX_ITERATIONS, RETRY_DEFAULTS, WorkflowDefinitionSchema, type WorkflowDefinition, type WorkflowStep } from "@/lib/workflow/schema";
import { getStepKind } from "@/lib/workflow/step-kinds";
import { runSizeProblem } from "@/lib/workflow/validate";
import { OrchestratorError, serializeError, StepError, type SerializedError } from "./errors";
import { ExpressionEvaluator } from "./expressions";
import { runMap } from "./map";
import { executors } from "./steps";
import type { RuntimeSettings, StepContext } from "./steps/types";

/**
 * Compiles a workflow definition into a LangGraph StateGraph.
 *
 * State: one channel per step (`out.<id>` = its latest output and execution count), so a checkpoint only
 * stores the channels that changed and storage grows linearly; plus small scheduling channels.
 *
 * Scheduling: a step that finishes alone in its superstep decides what runs next itself (no extra superstep
 * for plain chains). Steps that ran in parallel report their targets to the `scheduler` node, which runs once
 * after them and applies the join rule of `readySteps`. Everything a superstep starts runs concurrently.
 */

export interface StepOutputRecord {
  output: unknown;
  execution: number;
}

/** What a step reports when done: the steps it triggers. */
interface Signal {
  from: string;
  targets: string[];
}

/** Callbacks through which the runner (the only writer of run state) learns what happens. */
export interface EngineHooks {
  runId: string;
  settings: RuntimeSettings;
  signal?: AbortSignal;
  onStepQueued?(stepId: string): void | Promise<void>;
  onStepStart?(step: WorkflowStep, execution: number, renderedConfig: unknown): void | Promise<void>;
  onStepSuccess?(step: WorkflowStep, execution: number, output: unknown, durationMs: number, attempts: AttemptRecord): void | Promise<void>;
  onStepFailure?(step: WorkflowStep, execution: number, error: SerializedError, durationMs: number, attempts: AttemptRecord): void | Promise<void>;
  onStepRetry?(step: WorkflowStep, execution: number, attempt: number, error: SerializedError, delayMs: number): void | Promise<void>;
  onStepWaiting?(step: WorkflowStep, execution: number, request: unknown): void | Promise<void>;
  onToken?(stepId: string, execution: number, text: string): void;
  onStepLog?(stepId: string, execution: number, level: string, text: string): void;
  onStepUsage?(stepId: string, execution: number, usage: { model: string; promptTokens: number; completionTokens: number }): void;
  runWorkflow?: (stepId: string, execution: number, request: { workflowId: string; version?: number; input?: unknown }) => ReturnType<StepContext["runWorkflow"]>;
}

export const SCHEDULER_NODE = "scheduler";
export const nodeName = (stepId: string) => `step.${stepId}`;
export const outputChannel = (stepId: string) => `out.${stepId}`;

function stateAnnotation(stepIds: string[]) {
  // A default (null) keeps unread outputs from being "empty" channels: LangGraph signals reading an empty
  // channel by throwing, and every step reads the whole state, so defaults save O(steps²) exceptions.
  const outputs = Object.fromEntries(
    stepIds.map((id) => [outputChannel(id), Annotation<StepOutputRecord | null>({ reducer: (_a, b) => b, default: () => null })]),
  );
  return Annotation.Root({
    input: Annotation<unknown>(),
    vars: Annotation<Record<string, unknown>>({ reducer: (a, b) => ({ ...a, ...b }), default: () => ({}) }),
    /** Scheduling state in one channel, so each superstep stores one small blob for it. */
    schedule: Annotation<ScheduleState, ScheduleUpdate>({ reducer: reduceSchedule, default: () => EMPTY_SCHEDULE }),
    ...outputs,
  });
}

/**
 * pending: triggered steps still waiting for a join; active: the steps the last decision started;
 * signals: targets reported by parallel steps for the scheduler; executed: step executions so far (the optional
 * total cap; each step's own count, for maxIterations, is in its output channel).
 */
export interface ScheduleState {
  pending: string[];
  active: string[];
  signals: Signal[];
  executed: number;
}

/** A parallel step reports its targets, or a scheduling decision replaces the plan. */
type ScheduleUpdate = { signal: Signal } | { decided: { pending: string[]; active: string[]; executedDelta: number } };

const EMPTY_SCHEDULE: ScheduleState = { pending: [], active: [], signals: [], executed: 0 };

function reduceSchedule(state: ScheduleState, update: ScheduleUpdate): ScheduleState {
  if ("signal" in update) return { ...state, signals: [...state.signals, update.signal], executed: state.executed + 1 };
  const { pending, active, executedDelta } = update.decided;
  return { pending, active, signals: [], executed: state.executed + executedDelta };
}

type State = Record<string, unknown> & {
  input: unknown;
  vars: Record<string, unknown>;
  schedule: ScheduleState;
};

/** The loop guard: per step (maxIterations) and, when the workflow sets one, for the whole run. */
export interface ExecutionLimits {
  maxIterations: number;
  maxStepExecutions?: number;
}

export interface CompiledWorkflow {
  graph: ReturnType<typeof compileGraph>;
  spec: GraphSpec;
  limits: ExecutionLimits;
  /**
   * LangGraph's superstep limit for an invocation, derived so that our LOOP_LIMIT always comes first: a run makes
   * at most min(maxStepExecutions, steps × maxIterations) step executions, each in at most two supersteps (the
   * step, and the scheduler after parallel steps).
   */
  recursionLimit: number;
  /** Latest output of every step that ran, from a final state. */
  outputsOf(state: Record<string, unknown>): Record<string, unknown>;
  /** Each step's latest output and which execution produced it. */
  recordsOf(state: Record<string, unknown>): Map<string, StepOutputRecord>;
}

// ---- Graph caching and hooks plumbing --------------------------------------------------------------------
// A compiled graph holds no run: the hooks of the run it executes travel in the invocation's config
// (`configurable[HOOKS_KEY]`, bound with `withConfig`), so one compiled graph serves every run of a definition.

const HOOKS_KEY = "orchestrator_hooks";

function invocationHooks(config: LangGraphRunnableConfig | undefined): EngineHooks {
  const hooks = config?.configurable?.[HOOKS_KEY] as EngineHooks | undefined;
  if (!hooks) throw new OrchestratorError("INTERNAL", "a workflow graph ran without the hooks of its run");
  return hooks;
}

/** Compiles a definition for one run (or one inspection): the hooks are bound to the returned graph. */
export function compileWorkflow(def: WorkflowDefinition, hooks: EngineHooks, checkpointer?: BaseCheckpointSaver): CompiledWorkflow {
  return withHooks(compileShared(def, checkpointer), hooks);
}

/**
 * The definition stored on a run (JSON text) parsed and compiled once per content and saver, bounded, least
 * recently used dropped first: parsing, building and compiling cost more than a short run. Keyed by the whole
 * text, so a new version (or any edit) compiles anew.
 */
const COMPILED_CACHE_SIZE = 32;
const compiledByJson = new WeakMap<object, Map<string, { definition: WorkflowDefinition; shared: CompiledWorkflow }>>();
const NO_CHECKPOINTER = {};

export function compileStoredWorkflow(
  definitionJson: string,
  hooks: EngineHooks,
  checkpointer?: BaseCheckpointSaver,
): CompiledWorkflow & { definition: WorkflowDefinition } {
  let cache = compiledByJson.get(checkpointer ?? NO_CHECKPOINTER);
  if (!cache) compiledByJson.set(checkpointer ?? NO_CHECKPOINTER, (cache = new Map()));
  let entry = cache.get(definitionJson);
  if (entry) cache.delete(definitionJson);
  else {
    const definition = WorkflowDefinitionSchema.parse(JSON.parse(definitionJson));
    entry = { definition, shared: compileShared(definition, checkpointer) };
    if (cache.size >= COMPILED_CACHE_SIZE) cache.delete(cache.keys().next().value!);
  }
  cache.set(definitionJson, entry);
  return { ...withHooks(entry.shared, hooks), definition: entry.definition };
}

function withHooks(shared: CompiledWorkflow, hooks: EngineHooks): CompiledWorkflow {
  return { ...shared, graph: shared.graph.withConfig({ configurable: { [HOOKS_KEY]: hooks } }) as CompiledWorkflow["graph"] };
}
// ---- end of graph caching and hooks plumbing --------------------------------------------------------------

function compileShared(def: WorkflowDefinition, checkpointer?: BaseCheckpointSaver): CompiledWorkflow {
  // Runs are refused when created; this covers the other ways a definition gets here (resuming with the latest
  // version, inspecting checkpoints).
  const tooLarge = runSizeProblem(def);
  if (tooLarge) throw new OrchestratorError("INVALID_DEFINITION", tooLarge.message);
  const spec = buildGraph(def);
  const limits: ExecutionLimits = {
    maxIterations: def.limits?.maxIterations ?? DEFAULT_MAX_ITERATIONS,
    ...(def.limits?.maxStepExecutions !== undefined ? { maxStepExecutions: def.limits.maxStepExecutions } : {}),
  };
  const executions = Math.min(limits.maxStepExecutions ?? Infinity, Math.max(1, spec.stepIds.length) * limits.maxIterations);
  const graph = compileGraph(def, spec, limits, checkpointer);
  return {
    graph,
    spec,
    limits,
    recursionLimit: 2 * executions + 10,
    outputsOf: (state) => {
      const outputs: Record<string, unknown> = {};
      for (const id of spec.stepIds) {
        const record = state[outputChannel(id)] as StepOutputRecord | undefined;
        if (record) outputs[id] = record.output;
      }
      return outputs;
    },
    recordsOf: (state) => {
      const records = new Map<string, StepOutputRecord>();
      for (const id of spec.stepIds) {
        const record = state[outputChannel(id)] as StepOutputRecord | null | undefined;
        if (record) records.set(id, record);
      }
      return records;
    },
  };
}

/** Each spec's step ids with their channel names, built once (every step reads every channel). */
const channelsOfSpec = new WeakMap<GraphSpec, Array<[string, string]>>();
const stepChannels = (spec: GraphSpec) => {
  let channels = channelsOfSpec.get(spec);
  if (!channels) channelsOfSpec.set(spec, (channels = spec.stepIds.map((id) => [id, outputChannel(id)])));
  return channels;
};

function expressionContext(state: State, spec: GraphSpec): ExpressionContext {
  const steps: Record<string, unknown> = {};
  for (const [id, channel] of stepChannels(spec)) {
    const record = state[channel] as StepOutputRecord | undefined;
    if (record) steps[id] = record.output;
  }
  return { input: state.input ?? {}, steps, vars: state.vars ?? {} };
}

function compileGraph(
  def: WorkflowDefinition,
  spec: GraphSpec,
  limits: ExecutionLimits,
  checkpointer?: BaseCheckpointSaver,
) {
  // `ends` only feed LangGraph's compile-time check that every node can be reached (and its drawings); a
  // Command's goto is not limited by them. Every step is reachable from the scheduler, so each step lists just
  // its own successors: all nodes for every node would make compiling quadratic in the number of steps.
  const stepEnds = (id: string) => [...new Set((spec.outgoing.get(id) ?? []).map((e) => nodeName(e.to))), SCHEDULER_NODE, END];

  /** Decides which steps start next; shared by the scheduler node and a step that ran alone. */
  const decide = async (hooks: EngineHooks, pendingBefore: string[], signals: Signal[], executed: number, executedDelta: number) => {
    const pending = [...new Set([...pendingBefore, ...signals.flatMap((s) => s.targets)])];
    const ready = readySteps(spec, pending);
    for (const id of ready) await hooks.onStepQueued?.(id);
    const started = new Set(ready);
    const update: ScheduleUpdate = { decided: { pending: pending.filter((id) => !started.has(id)), active: ready, executedDelta } };
    return { update, goto: ready.length ? ready.map(nodeName) : END };
  };

  let builder = new StateGraph(stateAnnotation(spec.stepIds)) as unknown as StateGraph<any, any, any, string>;
  builder = builder.addNode(
    SCHEDULER_NODE,
    async (state: State, config: LangGraphRunnableConfig) => {
      // First call: start the entry steps.
      const { pending, signals, executed } = state.schedule;
      const seed = executed === 0 && signals.length === 0 && pending.length === 0;
      const next = await decide(invocationHooks(config), seed ? spec.entries : pending, signals, executed, 0);
      return new Command({ update: { schedule: next.update }, goto: next.goto });
    },
    { ends: [...spec.stepIds.map(nodeName), END] },
  );

  for (const step of def.steps) {
    builder = builder.addNode(nodeName(step.id), (state: State, config: LangGraphRunnableConfig) => runStep(step, state, invocationHooks(config)), { ends: stepEnds(step.id) });
  }
  builder = builder.addEdge(START, SCHEDULER_NODE);

  async function runStep(step: WorkflowStep, state: State, hooks: EngineHooks) {
    const { executed, active } = state.schedule;
    const previous = state[outputChannel(step.id)] as StepOutputRecord | undefined;
    const execution = (previous?.execution ?? 0) + 1;
    const context = expressionContext(state, spec);
    const started = Date.now();

    const runSignal = hooks.signal ?? new AbortController().signal;
    const attempts: AttemptRecord = { attempts: 0, attemptErrors: [] };
    let output: unknown;
    let failed: SerializedError | undefined;
    let assigned: Record<string, unknown> = {};
    try {
      // The loop limit stops the step that would exceed it, before it does anything (earlier outputs are kept).
      if (execution > limits.maxIterations)
        throw new OrchestratorError(
          "LOOP_LIMIT",
          `step "${step.id}" reached its limit of ${limits.maxIterations} executions in this run (a loop that does not end?); raise limits.maxIterations in the workflow if the loop is intended`,
          { stepId: step.id },
        );
      const { maxStepExecutions } = limits;
      if (maxStepExecutions !== undefined && executed + Math.max(0, active.indexOf(step.id)) >= maxStepExecutions)
        throw new OrchestratorError(
          "LOOP_LIMIT",
          `the run reached its limit of ${maxStepExecutions} step executions at step "${step.id}"; raise limits.maxStepExecutions in the workflow (or remove it: each step is still limited by limits.maxIterations)`,
          { stepId: step.id },
        );
      output = await executeStepBody(step, context, { runId: hooks.runId, recordId: step.id, execution, signal: runSignal, hooks, checkpointer }, attempts);
      if (step.assign) {
        const after = new ExpressionEvaluator({ ...context, output, steps: { ...context.steps, [step.id]: output } } as ExpressionContext, { stepId: step.id, signal: runSignal });
        for (const [name, template] of Object.entries(step.assign))
          assigned[name] = await after.renderTemplate(template.includes("{{") ? template : `{{ ${template} }}`, `assign.${name}`);
      }
    } catch (err) {
      if (isGraphInterrupt(err)) {
        // Not a failure: the step waits for a person (approval); LangGraph resumes it with the decision.
        await hooks.onStepWaiting?.(step, execution, err.interrupts[0]?.value);
        throw err;
      }
      failed = serializeError(err, step.id);
      await hooks.onStepFailure?.(step, execution, failed, Date.now() - started, attempts);
      // onError continue/route: the failure becomes the step's output and the run goes on (not on cancel or
      // the loop limit, which stop the run whatever the step says).
      const recoverable = !runSignal.aborted && failed.code !== "LOOP_LIMIT" && (step.onError === "continue" || step.onError === "route");
      if (!recoverable) {
        // Every step failure leaves the engine as an OrchestratorError that names the step.
        if (err instanceof OrchestratorError && err.stepId) throw err;
        const code = err instanceof OrchestratorError ? err.code : "STEP_FAILED";
        throw new StepError(code, err instanceof Error ? err.message : String(err), { stepId: step.id, cause: err });
      }
      output = { error: { code: failed.code, message: failed.message } };
      assigned = {};
    }
    if (!failed) await hooks.onStepSuccess?.(step, execution, output, Date.now() - started, attempts);

    const targets = (spec.outgoing.get(step.id) ?? [])
      .filter((edge) =>
        failed && step.onError === "route"
          ? edge.when === "error"
          : edge.when === undefined || edge.when === String((output as { result?: unknown })?.result === true),
      )
      .map((edge) => edge.to);
    const update = {
      [outputChannel(step.id)]: { output, execution } satisfies StepOutputRecord,
      ...(Object.keys(assigned).length ? { vars: assigned } : {}),
    };
    const signal: Signal = { from: step.id, targets };
    if (active.length === 1) {
      // Ran alone: decide inline, saving a superstep per step on chains.
      const next = await decide(hooks, state.schedule.pending, [signal], executed + 1, 1);
      return new Command({ update: { ...update, schedule: next.update }, goto: next.goto });
    }
    return new Command({ update: { ...update, schedule: { signal } }, goto: SCHEDULER_NODE });
  }

  return builder.compile({ checkpointer });
}

/** Where a step body runs: the run, the id its records use (a map item's steps get their own), and hooks. */
export interface StepBodyScope {
  runId: string;
  recordId: string;
  execution: number;
  signal: AbortSignal;
  hooks: EngineHooks;
  checkpointer?: BaseCheckpointSaver;
}

/**
 * One step's work, shared by workflow steps and the steps inside a map item: renders its config (templates;
 * expression and raw fields as written), reports the start, runs the executor under the retry policy and time
 * limit, and checks the output against `outputSchema`. Throws typed errors naming the step.
 */
export async function executeStepBody(step: WorkflowStep, context: ExpressionContext, scope: StepBodyScope, attempts: AttemptRecord): Promise<unknown> {
  const kind = getStepKind(step.type);
  const executor = executors[step.type as keyof typeof executors];
  if (!kind || !executor) throw new OrchestratorError("INVALID_DEFINITION", `step "${scope.recordId}": unknown type "${step.type}"`, { stepId: scope.recordId });
  const { hooks, recordId, execution } = scope;
  // The step's time limit covers evaluating its templates too (a worker evaluation is stopped when it passes).
  const renderSignal = step.timeoutMs ? AbortSignal.any([scope.signal, AbortSignal.timeout(step.timeoutMs)]) : scope.signal;
  const expressions = new ExpressionEvaluator(context, { stepId: recordId, signal: renderSignal });
  const config: Record<string, unknown> = {};
  try {
    for (const [key, value] of Object.entries(step.config)) {
      const asWritten = kind.expressionFields.includes(key) || kind.rawFields?.includes(key);
      config[key] = asWritten ? value : await expressions.renderValue(value, `config.${key}`);
    }
  } catch (err) {
    if (renderSignal.aborted && !scope.signal.aborted)
      throw new StepError("STEP_TIMEOUT", `step "${recordId}" did not finish evaluating its templates within its time limit of ${step.timeoutMs} ms`, { stepId: recordId });
    throw err;
  }
  await hooks.onStepStart?.({ ...step, id: recordId }, execution, config);
  const output = await withRetries(step, scope.signal, attempts, (signal) =>
    executor(config, {
      runId: hooks.runId,
      stepId: recordId,
      execution,
      signal,
      settings: hooks.settings,
      emitToken: (text) => hooks.onToken?.(recordId, execution, text),
      evaluate: (expression, field = "config.expression") => expressions.evaluate(expression, field),
      data: { input: context.input, steps: context.steps, vars: context.vars, ...(context.index !== undefined ? { item: context.item, index: context.index } : {}) },
      log: (level, text) => hooks.onStepLog?.(recordId, execution, level, text),
      reportUsage: (usage) => hooks.onStepUsage?.(recordId, execution, usage),
      runWorkflow: (request) => {
        if (!hooks.runWorkflow) throw new StepError("STEP_FAILED", `step "${recordId}": sub-workflows can only run inside the runner`, { stepId: recordId });
        return hooks.runWorkflow(recordId, execution, request);
      },
      runMap: (request) => runMap({ ...request, mapStepId: recordId, context, scope }),
    }),
    (attempt, error, delayMs) => hooks.onStepRetry?.({ ...step, id: recordId }, execution, attempt, error, delayMs),
  );
  // Outputs from outside (a code step's result, an llm's JSON, a callback body) are bounded here, before the
  // checkpoint serializer, which recurses per level, sees them.
  const tooDeep = nestingProblem(output, "output");
  if (tooDeep) throw new StepError("NESTING_LIMIT", `step "${recordId}" ${tooDeep.message}`, { stepId: recordId });
  if (step.outputSchema) {
    const problems = outputSchemaProblems(step.outputSchema, output);
    if (problems.length)
      throw new StepError("OUTPUT_INVALID", `step "${recordId}" output does not match its outputSchema: ${problems.join("; ")}`, { stepId: recordId });
  }
  return output;
}

/** How many attempts a step execution made, and why the earlier ones failed. */
export interface AttemptRecord {
  attempts: number;
  attemptErrors: Array<SerializedError & { attempt: number }>;
}

/**
 * Runs one step's executor under its retry policy and time limit. Only retryable failures (StepError.retryable:
 * network, 429, 5xx, timeouts) are tried again, with exponential backoff and optional jitter; cancelling the run
 * stops the waiting too.
 */
async function withRetries<T>(
  step: WorkflowStep,
  runSignal: AbortSignal,
  record: AttemptRecord,
  attempt: (signal: AbortSignal) => Promise<T>,
  onRetry: (attempt: number, error: SerializedError, delayMs: number) => unknown,
): Promise<T> {
  const policy = { ...RETRY_DEFAULTS, ...(step.retry ?? { maxAttempts: 1 }) };
  for (;;) {
    record.attempts++;
    const timeout = step.timeoutMs ? AbortSignal.timeout(step.timeoutMs) : undefined;
    const signal = timeout ? AbortSignal.any([runSignal, timeout]) : runSignal;
    const deadline = timeout ? rejectOnAbort(signal) : undefined;
    try {
      // With a time limit, race it too: an executor that ignores its signal still cannot outlive the limit.
      return await (deadline ? Promise.race([attempt(signal), deadline.promise]) : attempt(signal));
    } catch (err) {
      const failure =
        timeout?.aborted && !runSignal.aborted
          ? new StepError("STEP_TIMEOUT", `step "${step.id}" did not finish within ${step.timeoutMs} ms`, { stepId: step.id, retryable: true })
          : err;
      const retryable = failure instanceof StepError && failure.retryable;
      if (runSignal.aborted || !retryable || record.attempts >= policy.maxAttempts) throw failure;
      const error = serializeError(failure, step.id);
      const base = Math.min(policy.initialDelayMs * policy.backoffFactor ** (record.attempts - 1), policy.maxDelayMs);
      const delayMs = Math.round(policy.jitter ? base / 2 + Math.random() * (base / 2) : base);
      record.attemptErrors.push({ ...error, attempt: record.attempts });
      await onRetry(record.attempts, error, delayMs);
      await sleepUnlessAborted(delayMs, runSignal);
    } finally {
      deadline?.dispose();
    }
  }
}

function rejectOnAbort(signal: AbortSignal): { promise: Promise<never>; dispose(): void } {
  let fail = () => {};
  const promise = new Promise<never>((_, reject) => {
    fail = () => reject(signal.reason ?? new Error("aborted"));
    if (signal.aborted) fail();
    else signal.addEventListener("abort", fail, { once: true });
  });
  promise.catch(() => {}); // only observed through the race
  return { promise, dispose: () => signal.removeEventListener("abort", fail) };
}

function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", stop);
      resolve();
    }, ms);
    const stop = () => {
      clearTimeout(timer);
      reject(signal.reason ?? new Error("aborted"));
    };
    if (signal.aborted) stop();
    else signal.addEventListener("abort", stop, { once: true });
  });
}
