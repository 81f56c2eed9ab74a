import { Annotation, Command, DeltaChannel, END, isGraphInterrupt, Send, START, StateGraph, type BaseCheckpointSaver, type LangGraphRunnableConfig } from "@langchain/langgraph";
import { stepExpressions, type ExpressionContext } from "@/lib/workflow/expression";
import { buildGraph, readySteps, type GraphSpec } from "@/lib/workflow/graph";
import { outputSchemaProblems } from "@/lib/workflow/input";
import { nestingProblem } from "@/lib/workflow/limits";
import { secretsReadBy, secretsReferencedBy } from "@/lib/workflow/secret-refs";
import { DEFAULT_MAX_ITERATIONS, RETRY_DEFAULTS, StoredDefinitionSchema, type WorkflowDefinition, type WorkflowStep } from "@/lib/workflow/schema";
import { getStepKind } from "@/lib/workflow/step-kinds";
import { OrchestratorError, serializeError, StepError, type SerializedError } from "./errors";
import { ExpressionEvaluator } from "./expressions";
import { analyzeExpression } from "./expressions/bounded.mjs";
import { runMap } from "./map";
import { displayConfig, NO_SECRETS, type RunSecrets } from "./redact";
import { allRecords, applyOutputUpdates, emptyOutputs, recordOf, type OutputsUpdate, type StepOutputRecord, type StepOutputs } from "./step-outputs";
import { executors } from "./steps";
import type { RuntimeSettings, StepContext } from "./steps/types";

export type { StepOutputRecord, StepOutputs } from "./step-outputs";

/**
 * Compiles a workflow definition into a LangGraph StateGraph of constant size, whatever the number of steps.
 *
 * Two nodes: `scheduler`, and `step`, which executes whichever step a `Send("step", { stepId })` names (several
 * Sends in one superstep run concurrently). State: `input`, `vars`, `schedule` and `outputs` — every step's latest
 * output in one persistent map (lib/engine/step-outputs.ts), a LangGraph DeltaChannel, so a checkpoint stores the
 * records a superstep wrote, not the map. LangGraph's own work per superstep (applying writes, creating and
 * copying checkpoints, versions) goes over channels and nodes, so it no longer grows with the workflow; neither does
 * compiling (it copied the channel list into every node: steps² with a node and a channel per step).
 *
 * Scheduling: a step that finishes alone in its superstep decides what runs next itself (no extra superstep for
 * plain chains). Steps that ran in parallel report their targets to the `scheduler` node, which runs once after
 * them and applies the join rule of `readySteps`. Everything a superstep starts runs concurrently.
 */

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
  /**
   * The secrets of the run's owner that its definition reads (see `secretNames`): steps get the ones their config
   * templates name, and everything the engine reports through these hooks has their values redacted.
   */
  secrets?: RunSecrets;
  /** Runs a step's whole execution inside the runner's context for it (log lines carry the run and step ids). */
  inStepScope?<T>(stepId: string, body: () => Promise<T>): Promise<T>;
  onStepQueued?(stepId: string): void | Promise<void>;
  onStepStart?(step: WorkflowStep, execution: number, renderedConfig: unknown): void | Promise<void>;
  onStepSuccess?(step: WorkflowStep, execution: number, output: unknown, durationMs: number, attempts: AttemptRecord): void | Promise<void>;
  onStepFailure?(step: WorkflowStep, execution: number, error: SerializedError, durationMs: number, attempts: AttemptRecord): void | Promise<void>;
  onStepRetry?(step: WorkflowStep, execution: number, attempt: number, error: SerializedError, delayMs: number): void | Promise<void>;
  onStepWaiting?(step: WorkflowStep, execution: number, request: unknown): void | Promise<void>;
  onToken?(stepId: string, execution: number, text: string): void;
  onStepLog?(stepId: string, execution: number, level: string, text: string): void;
  onStepUsage?(stepId: string, execution: number, usage: { model: string; promptTokens: number; completionTokens: number }): void;
  /** The model gate of a step execution (lib/governor): budgets and rate limits of its model calls. */
  modelGate?(stepId: string, execution: number): StepContext["modelGate"];
  runWorkflow?: (stepId: string, execution: number, request: { workflowId: string; version?: number; input?: unknown }) => ReturnType<StepContext["runWorkflow"]>;
}

export const SCHEDULER_NODE = "scheduler";
export const STEP_NODE = "step";
/** The state channel holding every step's latest output. */
export const OUTPUTS_CHANNEL = "outputs";

/** The argument of a `Send` to the step node. */
export interface StepTask {
  stepId: string;
}

export const sendStep = (stepId: string) => new Send(STEP_NODE, { stepId } satisfies StepTask);

/**
 * A full snapshot of `outputs` is stored after this many updates since the last one (LangGraph also snapshots
 * every 5,000 supersteps, LANGGRAPH_DELTA_MAX_SUPERSTEPS_SINCE_SNAPSHOT). At least the number of steps, so the
 * snapshots add at most about one record per step to the checkpoint storage; loading a thread replays the writes
 * since the last snapshot.
 */
const MIN_OUTPUTS_SNAPSHOT_EVERY = 1000;

function stateAnnotation(stepCount: number) {
  return Annotation.Root({
    input: Annotation<unknown>(),
    vars: Annotation<Record<string, unknown>>({ reducer: (a, b) => ({ ...a, ...b }), default: () => ({}) }),
    /** Scheduling state in one channel, so each superstep stores one small blob for it. */
    schedule: Annotation<ScheduleState, ScheduleUpdate>({ reducer: reduceSchedule, default: () => EMPTY_SCHEDULE }),
    [OUTPUTS_CHANNEL]: new DeltaChannel<StepOutputs, OutputsUpdate>(applyOutputUpdates, {
      snapshotFrequency: Math.max(MIN_OUTPUTS_SNAPSHOT_EVERY, stepCount),
      initialValueFactory: emptyOutputs,
    }),
  });
}

/**
 * pending: triggered steps still waiting for a join; active: the steps the last decision started, in the order of
 * their Sends; signals: targets reported by parallel steps for the scheduler; executed: step executions so far (the
 * optional total cap; each step's own count, for maxIterations, is in its output record); changed: the steps whose
 * output the superstep (or edit) that made this state wrote (the checkpoint browser's "what changed").
 */
export interface ScheduleState {
  pending: string[];
  active: string[];
  signals: Signal[];
  executed: number;
  changed?: string[];
}

/** A parallel step reports its targets, a scheduling decision replaces the plan, or an edit sets it outright. */
export type ScheduleUpdate =
  | { signal: Signal }
  | { decided: { pending: string[]; active: string[]; executedDelta: number; ran: string[] } }
  | { replace: ScheduleState };

const EMPTY_SCHEDULE: ScheduleState = { pending: [], active: [], signals: [], executed: 0, changed: [] };

function reduceSchedule(state: ScheduleState, update: ScheduleUpdate): ScheduleState {
  if ("replace" in update) return update.replace;
  if ("signal" in update) {
    // Signals come from the steps of one superstep, which a decision (signals: []) always precedes.
    const first = state.signals.length === 0;
    return {
      ...state,
      signals: [...state.signals, update.signal],
      executed: state.executed + 1,
      changed: [...(first ? [] : (state.changed ?? [])), update.signal.from],
    };
  }
  const { pending, active, executedDelta, ran } = update.decided;
  return { pending, active, signals: [], executed: state.executed + executedDelta, changed: ran };
}

type State = {
  input: unknown;
  vars: Record<string, unknown>;
  schedule: ScheduleState;
  outputs: StepOutputs;
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
  /** The secret names the definition's steps read (`{{ secrets.NAME }}`): what a run resolves for its owner. */
  secretNames(): string[];
  /** Latest output of every step that ran, from a state (graph values). */
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
    const definition = StoredDefinitionSchema.parse(JSON.parse(definitionJson));
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
  const spec = buildGraph(def);
  const limits: ExecutionLimits = {
    maxIterations: def.limits?.maxIterations ?? DEFAULT_MAX_ITERATIONS,
    ...(def.limits?.maxStepExecutions !== undefined ? { maxStepExecutions: def.limits.maxStepExecutions } : {}),
  };
  const executions = Math.min(limits.maxStepExecutions ?? Infinity, Math.max(1, spec.stepIds.length) * limits.maxIterations);
  const graph = compileGraph(def, spec, limits, checkpointer);
  let secretNames: string[] | undefined;
  return {
    graph,
    spec,
    limits,
    recursionLimit: 2 * executions + 10,
    // Found on first use (a run), once per compiled definition: inspections never need them.
    secretNames: () => (secretNames ??= secretsReferencedBy(def)),
    outputsOf: (state) => Object.fromEntries([...recordsIn(state)].map(([id, record]) => [id, record.output])),
    recordsOf: (state) => recordsIn(state),
  };
}

/**
 * The state graph without steps (nodes that do nothing): reads any run's state from its checkpoints, e.g. to store
 * the outputs as one snapshot before retention drops the writes they are rebuilt from.
 */
export function stateReader(checkpointer: BaseCheckpointSaver) {
  const builder = new StateGraph(stateAnnotation(0)) as unknown as StateGraph<any, any, any, string>;
  return builder
    .addNode(SCHEDULER_NODE, () => ({}), { ends: [STEP_NODE, END] })
    .addNode(STEP_NODE, () => ({}))
    .addEdge(START, SCHEDULER_NODE)
    .compile({ checkpointer });
}

/** The records of a state's outputs channel. */
export function recordsIn(state: Record<string, unknown>): Map<string, StepOutputRecord> {
  return new Map(allRecords(state[OUTPUTS_CHANNEL] as StepOutputs | undefined));
}

/**
 * A step that runs because of a `Send` gets the Send's argument as its input, not the state. It reads the state the
 * way LangGraph's own conditional edges do: through the read function LangGraph puts in every task's config
 * (CONFIG_KEY_READ, not exported), which returns the channel values at the start of the superstep.
 */
const CONFIG_KEY_READ = "__pregel_read";
const STATE_CHANNELS = ["input", "vars", "schedule", OUTPUTS_CHANNEL];

function readState(config: LangGraphRunnableConfig): State {
  const read = config.configurable?.[CONFIG_KEY_READ] as ((select: string[], fresh: boolean) => Partial<State>) | undefined;
  if (typeof read !== "function") throw new Error(`LangGraph did not give the step task its state reader (${CONFIG_KEY_READ})`);
  const state = read(STATE_CHANNELS, false);
  return { input: state.input, vars: state.vars ?? {}, schedule: state.schedule ?? EMPTY_SCHEDULE, outputs: state.outputs ?? emptyOutputs() };
}

/**
 * The steps whose outputs a step can read: the `steps.<id>` its templates, expressions and `assign` name (and those
 * of a map's item steps), or `all` when that cannot be told (dynamic access such as `$keys(steps)`, `$`, a code
 * step, which gets every output as data). Building the expression context from these keeps a step's cost
 * independent of how many steps ran before it.
 */
export function stepsReadBy(step: WorkflowStep): Set<string> | "all" {
  const ids = new Set<string>();
  const pending: WorkflowStep[] = [step];
  while (pending.length) {
    const current = pending.pop()!;
    const kind = getStepKind(current.type);
    if (!kind || current.type === "code") return "all";
    if (current.type === "map" && Array.isArray(current.config?.steps)) pending.push(...(current.config.steps as WorkflowStep[]));
    for (const { expression } of stepExpressions(current, kind)) {
      let reads;
      try {
        reads = analyzeExpression(expression).reads;
      } catch {
        return "all"; // the step fails on it with TEMPLATE_ERROR; nothing to save
      }
      if (reads === "all" || reads.steps === "all") return "all";
      for (const id of reads.steps) ids.add(id);
    }
  }
  return ids;
}

function compileGraph(
  def: WorkflowDefinition,
  spec: GraphSpec,
  limits: ExecutionLimits,
  checkpointer?: BaseCheckpointSaver,
) {
  const stepsById = new Map(def.steps.map((step) => [step.id, step]));
  const reads = new Map<string, Set<string> | "all">();
  const readsOf = (step: WorkflowStep) => {
    let found = reads.get(step.id);
    if (!found) reads.set(step.id, (found = stepsReadBy(step)));
    return found;
  };
  const secretReads = new Map<string, string[]>();
  const secretsOf = (step: WorkflowStep) => {
    let found = secretReads.get(step.id);
    if (!found) secretReads.set(step.id, (found = secretsReadBy(step)));
    return found;
  };

  /** Decides which steps start next; shared by the scheduler node and a step that ran alone. */
  const decide = async (hooks: EngineHooks, pendingBefore: string[], signals: Signal[], executedDelta: number, ran: string[]) => {
    const pending = [...new Set([...pendingBefore, ...signals.flatMap((s) => s.targets)])];
    const ready = readySteps(spec, pending);
    for (const id of ready) await hooks.onStepQueued?.(id);
    const started = new Set(ready);
    const update: ScheduleUpdate = { decided: { pending: pending.filter((id) => !started.has(id)), active: ready, executedDelta, ran } };
    return { update, goto: ready.length ? ready.map(sendStep) : END };
  };

  function expressionContext(step: WorkflowStep, state: State): ExpressionContext {
    const steps: Record<string, unknown> = {};
    const wanted = readsOf(step);
    if (wanted === "all") for (const [id, record] of allRecords(state.outputs)) steps[id] = record.output;
    else
      for (const id of wanted) {
        const record = recordOf(state.outputs, id);
        if (record) steps[id] = record.output;
      }
    return { input: state.input ?? {}, steps, vars: state.vars ?? {} };
  }

  let builder = new StateGraph(stateAnnotation(spec.stepIds.length)) as unknown as StateGraph<any, any, any, string>;
  builder = builder.addNode(
    SCHEDULER_NODE,
    async (state: State, config: LangGraphRunnableConfig) => {
      // First call: start the entry steps.
      const { pending, signals, executed } = state.schedule;
      const seed = executed === 0 && signals.length === 0 && pending.length === 0;
      const next = await decide(invocationHooks(config), seed ? spec.entries : pending, signals, 0, []);
      return new Command({ update: { schedule: next.update }, goto: next.goto });
    },
    { ends: [STEP_NODE, END] },
  );
  builder = builder.addNode(
    STEP_NODE,
    (task: StepTask, config: LangGraphRunnableConfig) => {
      const { inStepScope } = invocationHooks(config);
      return inStepScope ? inStepScope(String(task?.stepId), () => runStep(task, config)) : runStep(task, config);
    },
    { ends: [STEP_NODE, SCHEDULER_NODE, END] },
  );
  builder = builder.addEdge(START, SCHEDULER_NODE);

  async function runStep(task: StepTask, config: LangGraphRunnableConfig) {
    const step = stepsById.get(task?.stepId);
    if (!step)
      throw new OrchestratorError("INVALID_DEFINITION", `the run's state starts step "${task?.stepId}", which this version of the workflow does not have`, {
        stepId: task?.stepId,
      });
    const hooks = invocationHooks(config);
    const state = readState(config);
    const { executed, active } = state.schedule;
    const previous = recordOf(state.outputs, step.id);
    const execution = (previous?.execution ?? 0) + 1;
    const context = expressionContext(step, state);
    const started = Date.now();

    const runSignal = hooks.signal ?? new AbortController().signal;
    const redactor = hooks.secrets?.redactor ?? NO_SECRETS;
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
      const names = secretsOf(step);
      const secrets = names.length ? secretValues(step.id, names, hooks.secrets) : undefined;
      output = await executeStepBody(step, secrets ? { ...context, secrets } : context, { runId: hooks.runId, recordId: step.id, execution, signal: runSignal, hooks, checkpointer }, attempts);
      if (step.assign) {
        // Without the secrets (validation refuses them in assign; this keeps `$$` from reaching them too).
        const after = new ExpressionEvaluator({ ...context, output, steps: { ...context.steps, [step.id]: output } } as ExpressionContext, { stepId: step.id, signal: runSignal });
        for (const [name, template] of Object.entries(step.assign))
          assigned[name] = await after.renderTemplate(template.includes("{{") ? template : `{{ ${template} }}`, `assign.${name}`);
        assigned = redactor.value(assigned);
        for (const line of after.missingWarnings()) hooks.onStepLog?.(step.id, execution, "warn", line);
      }
    } catch (caught) {
      if (isGraphInterrupt(caught)) {
        // Not a failure: the step waits for a person (approval); LangGraph resumes it with the decision.
        await hooks.onStepWaiting?.(step, execution, redactor.value(caught.interrupts[0]?.value));
        throw caught;
      }
      // Its message is stored (step record, run error, LangGraph's pending writes): without secret values.
      const err = redactor.scrub(caught);
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
      [OUTPUTS_CHANNEL]: { records: { [step.id]: { output, execution } } } satisfies OutputsUpdate,
      ...(Object.keys(assigned).length ? { vars: assigned } : {}),
    };
    const signal: Signal = { from: step.id, targets };
    if (active.length === 1) {
      // Ran alone: decide inline, saving a superstep per step on chains.
      const next = await decide(hooks, state.schedule.pending, [signal], 1, [step.id]);
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
  const redactor = scope.hooks.secrets?.redactor ?? NO_SECRETS;
  try {
    return await renderAndExecute(step, kind, executor, context, scope, attempts);
  } catch (err) {
    // Errors leave the step without secret values (a map item's error is stored in the map's state as it is).
    throw redactor.scrub(err);
  }
}

/**
 * executeStepBody's work. What it reports (rendered config, log lines, streamed text, retried errors) and the
 * output it returns have the values of the run's secrets redacted; the executor itself gets them.
 */
async function renderAndExecute(
  step: WorkflowStep,
  kind: NonNullable<ReturnType<typeof getStepKind>>,
  executor: (typeof executors)[keyof typeof executors],
  context: ExpressionContext,
  scope: StepBodyScope,
  attempts: AttemptRecord,
): Promise<unknown> {
  const { hooks, recordId, execution } = scope;
  const redactor = hooks.secrets?.redactor ?? NO_SECRETS;
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
  await hooks.onStepStart?.({ ...step, id: recordId }, execution, displayConfig(step.type, redactor.value(config)));
  for (const line of expressions.missingWarnings()) hooks.onStepLog?.(recordId, execution, "warn", redactor.text(line));
  const stream = redactor.stream();
  const emitToken = (text: string) => {
    if (text) hooks.onToken?.(recordId, execution, text);
  };
  let output: unknown;
  try {
    output = await withRetries(step, scope.signal, attempts, (signal) =>
      executor(config, {
        runId: hooks.runId,
        stepId: recordId,
        execution,
        signal,
        settings: hooks.settings,
        emitToken: (text) => emitToken(stream.push(text)),
        evaluate: (expression, field = "config.expression") => expressions.evaluate(expression, field),
        data: { input: context.input, steps: context.steps, vars: context.vars, ...(context.index !== undefined ? { item: context.item, index: context.index } : {}) },
        log: (level, text) => hooks.onStepLog?.(recordId, execution, level, redactor.text(text)),
        reportUsage: (usage) => hooks.onStepUsage?.(recordId, execution, usage),
        modelGate: hooks.modelGate?.(recordId, execution),
        runWorkflow: (request) => {
          if (!hooks.runWorkflow) throw new StepError("STEP_FAILED", `step "${recordId}": sub-workflows can only run inside the runner`, { stepId: recordId });
          return hooks.runWorkflow(recordId, execution, request);
        },
        runMap: (request) => runMap({ ...request, mapStepId: recordId, context, scope }),
      }),
      (attempt, error, delayMs) => hooks.onStepRetry?.({ ...step, id: recordId }, execution, attempt, redactor.error(error), delayMs),
    );
  } finally {
    // Text held back because it might have been the start of a secret was not one.
    emitToken(stream.flush());
  }
  // Outputs from outside (a code step's result, an llm's JSON, a callback body) are bounded here, before the
  // checkpoint serializer, which recurses per level, sees them.
  const tooDeep = nestingProblem(output, "output");
  if (tooDeep) throw new StepError("NESTING_LIMIT", `step "${recordId}" ${tooDeep.message}`, { stepId: recordId });
  if (step.outputSchema) {
    const problems = outputSchemaProblems(step.outputSchema, output);
    if (problems.length)
      throw new StepError("OUTPUT_INVALID", `step "${recordId}" output does not match its outputSchema: ${problems.join("; ")}`, { stepId: recordId });
  }
  // The output goes to the run's state (checkpoints, later steps, code steps) and records: without secret values.
  return redactor.value(output);
}

/** The values of the secrets a step's templates name; a missing or unreadable one fails the step, naming it. */
function secretValues(stepId: string, names: string[], secrets: RunSecrets | undefined): Record<string, string> {
  const values: Record<string, string> = {};
  for (const name of names) {
    const value = secrets?.values.get(name);
    if (value === undefined) {
      const problem = secrets?.problems.get(name);
      throw new StepError(
        problem?.code ?? "SECRET_NOT_FOUND",
        `step "${stepId}" uses {{ secrets.${name} }}, but ${problem?.detail ?? `no secret "${name}" is set for the user this run belongs to: add it on the Settings page (Secrets) and resume the run`}`,
        { stepId },
      );
    }
    values[name] = value;
  }
  return values;
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
