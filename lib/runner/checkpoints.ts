import { actorById, requireRunAccess } from "@/lib/auth/access";
import { Command, Overwrite, type BaseCheckpointSaver, type Send } from "@langchain/langgraph";
import { DeltaSnapshot, type CheckpointTuple } from "@langchain/langgraph-checkpoint";
import type { SqlCheckpointSaver } from "@/lib/checkpoint/sql-saver";
import type { Db } from "@/lib/db";
import {
  compileStoredWorkflow,
  OUTPUTS_CHANNEL,
  recordsIn,
  SCHEDULER_NODE,
  sendStep,
  stateReader,
  STEP_NODE,
  type CompiledWorkflow,
  type ScheduleState,
  type ScheduleUpdate,
  type StepOutputRecord,
} from "@/lib/engine/compile";
import { OrchestratorError } from "@/lib/engine/errors";
import { outputsFromRecords, type OutputsUpdate } from "@/lib/engine/step-outputs";

/**
 * The checkpoint browser's read side (time travel): a run's checkpoints, what each one changed, and the full
 * state at one of them; and the state updates that resume, fork or upgrade a thread. Every query is scoped to
 * the run's owner.
 *
 * Two layouts of checkpoints exist. The current one (lib/engine/compile.ts): nodes `scheduler` and `step`, all
 * outputs in the `outputs` channel. The one before (checkpoints written up to the change that introduced it): a
 * node `step.<id>` and a channel `out.<id>` per step. A legacy checkpoint is read directly from its channels, and
 * before a legacy thread runs again its state is rewritten once in the current layout, as a new checkpoint on top
 * of it (`upgradeLegacyThread`, and the resume and fork paths below), so waiting, failed and ended runs keep working.
 */

export interface CheckpointSummary {
  checkpointId: string;
  parentCheckpointId: string | null;
  /** LangGraph superstep number (-1 is the run's input, before anything ran). */
  step: number;
  createdAt: string;
  /** `input` (the run starting), `loop` (steps ran) or `update`/`fork` (edited by resume-from-here or a fork). */
  source: string;
  /** Steps whose output this checkpoint recorded, and whether vars or input changed. */
  changed: { steps: string[]; vars: boolean; input: boolean };
  /** On the path that led to the run's latest state (false: a branch left by a resume-from-here). */
  current: boolean;
}

export interface CheckpointState {
  checkpointId: string;
  createdAt: string;
  /** The whole run state at that point, in the names templates use. */
  values: { input: unknown; vars: Record<string, unknown>; steps: Record<string, unknown> };
  /** Steps that run next when resuming from here (empty: the run had ended). */
  next: string[];
  /** Step executions recorded at this point (how often each step had run). */
  executions: Record<string, number>;
}

interface Deps {
  db: Db;
  checkpointer: SqlCheckpointSaver;
}

/** A run the user may read (`view`) or act on (`control`), else NOT_FOUND / FORBIDDEN (lib/auth/access.ts). */
export async function ownedRun(db: Db, userId: string, runId: string, need: "view" | "control" = "control") {
  const actor = await actorById(db, userId);
  return requireRunAccess(db, actor, await db.run.findUnique({ where: { id: runId } }), runId, need);
}

/** Channel and node names of the legacy layout (a channel `out.<id>` and a node `step.<id>` per step). */
const LEGACY_OUTPUT = "out.";
const LEGACY_STEP_TRIGGER = "branch:to:step.";
const SCHEDULER_TRIGGER = `branch:to:${SCHEDULER_NODE}`;
const legacyStepOf = (channel: string) => (channel.startsWith(LEGACY_OUTPUT) ? channel.slice(LEGACY_OUTPUT.length) : null);
const isLegacy = (tuple: CheckpointTuple) => Object.keys(tuple.checkpoint.channel_versions).some((channel) => channel.startsWith(LEGACY_OUTPUT));

export async function listCheckpoints(deps: Deps, ownerId: string, runId: string): Promise<CheckpointSummary[]> {
  await ownedRun(deps.db, ownerId, runId, "view");
  const history = await deps.checkpointer.history(runId);
  // Which steps a checkpoint recorded is kept in its schedule (one small blob per superstep).
  const schedules = await deps.checkpointer.channelValues(runId, "schedule");
  const byId = new Map(history.map((entry) => [entry.checkpointId, entry]));
  const onPath = new Set<string>();
  for (let id: string | null | undefined = history[0]?.checkpointId; id; id = byId.get(id)?.parentCheckpointId) onPath.add(id);
  return history.map((entry) => {
    const parent = entry.parentCheckpointId ? byId.get(entry.parentCheckpointId) : undefined;
    const changedChannels = Object.entries(entry.channelVersions)
      .filter(([channel, version]) => parent?.channelVersions[channel] !== version)
      .map(([channel]) => channel);
    const steps = new Set(changedChannels.map(legacyStepOf).filter((id): id is string => id !== null));
    if (changedChannels.includes("schedule"))
      for (const id of (schedules.get(String(entry.channelVersions.schedule)) as ScheduleState | undefined)?.changed ?? []) steps.add(id);
    return {
      checkpointId: entry.checkpointId,
      parentCheckpointId: entry.parentCheckpointId,
      step: Number(entry.metadata?.step ?? 0),
      createdAt: entry.createdAt.toISOString(),
      source: String(entry.metadata?.source ?? "loop"),
      changed: { steps: [...steps], vars: changedChannels.includes("vars"), input: changedChannels.includes("input") },
      current: onPath.has(entry.checkpointId),
    };
  });
}

/** The run's graph, compiled only to read or edit its checkpoints (nothing executes). */
export function inspectionGraph(definitionJson: string, runId: string, checkpointer: BaseCheckpointSaver): CompiledWorkflow {
  return compileStoredWorkflow(definitionJson, { runId, settings: {} }, checkpointer);
}

export async function getCheckpointState(deps: Deps, ownerId: string, runId: string, checkpointId: string): Promise<CheckpointState> {
  const run = await ownedRun(deps.db, ownerId, runId, "view");
  return (await readCheckpoint(run, deps.checkpointer, checkpointId)).state;
}

/** What LangGraph runs after a checkpoint: steps (in the order of their Sends) and whether the scheduler runs. */
export interface NextTasks {
  steps: string[];
  scheduler: boolean;
}

export interface CheckpointRead {
  /** The compiled graph, to edit the thread with. */
  compiled: CompiledWorkflow;
  /** The state as users see it. */
  state: CheckpointState;
  records: Map<string, StepOutputRecord>;
  schedule: ScheduleState;
  next: NextTasks;
  /** A checkpoint of the legacy layout: its state must be rewritten in the current one before anything runs on it. */
  legacy: boolean;
}

/**
 * One checkpoint of a run (its latest without `checkpointId`), read once: the compiled graph to edit it with,
 * the state as users see it, and what runs after it (to start it again after an edit).
 */
export async function readCheckpoint(run: { id: string; definition: string }, checkpointer: BaseCheckpointSaver, checkpointId?: string): Promise<CheckpointRead> {
  const runId = run.id;
  const compiled = inspectionGraph(run.definition, runId, checkpointer);
  const config = { configurable: { thread_id: runId, checkpoint_ns: "", ...(checkpointId ? { checkpoint_id: checkpointId } : {}) } };
  const tuple = await checkpointer.getTuple(config);
  const found = tuple?.checkpoint.id;
  if (!tuple || !found || (checkpointId && found !== checkpointId))
    throw new OrchestratorError("NOT_FOUND", `run "${runId}" has no checkpoint "${checkpointId ?? "latest"}" (list them with: orchestrator checkpoints ${runId})`);
  // At a checkpoint addressed by id, every task after it runs again; at the latest, the tasks that finished keep
  // their writes (LangGraph applies them), so only the others are next.
  const addressed = checkpointId !== undefined;
  let values: Record<string, unknown>;
  let records: Map<string, StepOutputRecord>;
  let next: NextTasks;
  const legacy = isLegacy(tuple);
  if (legacy) {
    values = tuple.checkpoint.channel_values;
    records = new Map();
    for (const [channel, value] of Object.entries(values)) {
      const id = legacyStepOf(channel);
      if (id !== null && value) records.set(id, value as StepOutputRecord);
    }
    const finished = new Set(addressed ? [] : (tuple.pendingWrites ?? []).map(([, channel]) => legacyStepOf(channel)).filter((id) => id !== null));
    next = {
      steps: Object.keys(values)
        .filter((channel) => channel.startsWith(LEGACY_STEP_TRIGGER))
        .map((channel) => channel.slice(LEGACY_STEP_TRIGGER.length))
        .filter((id) => !finished.has(id)),
      scheduler: SCHEDULER_TRIGGER in values,
    };
  } else {
    const snapshot = await compiled.graph.getState(config);
    values = snapshot.values as Record<string, unknown>;
    records = recordsIn(values);
    const active = (values.schedule as ScheduleState | undefined)?.active ?? [];
    const pending = snapshot.tasks.filter((task) => addressed || task.result === undefined);
    next = {
      // A step task's path is [PUSH, index of its Send]; the Sends were made from `active`, in order.
      steps: pending.filter((task) => task.name === STEP_NODE).map((task) => active[Number(task.path?.[1])]).filter((id): id is string => typeof id === "string"),
      scheduler: pending.some((task) => task.name === SCHEDULER_NODE),
    };
  }
  const schedule = (values.schedule as ScheduleState | undefined) ?? { pending: [], active: [], signals: [], executed: 0 };
  const state: CheckpointState = {
    checkpointId: found,
    createdAt: tuple.checkpoint.ts ?? "",
    values: {
      input: values.input ?? {},
      vars: (values.vars as Record<string, unknown>) ?? {},
      steps: Object.fromEntries([...records].map(([id, record]) => [id, record.output])),
    },
    next: nextStepIds(next, schedule, compiled.spec.entries),
    executions: Object.fromEntries([...records].map(([id, record]) => [id, record.execution])),
  };
  return { compiled, state, records, schedule, next, legacy };
}

/** Step ids that run next; the scheduler stands for the steps it is about to start (the entries, at first). */
function nextStepIds(next: NextTasks, schedule: ScheduleState, entries: string[]): string[] {
  const ids = new Set(next.steps);
  const seed = schedule.executed === 0 && !schedule.pending.length && !schedule.signals.length;
  if (next.scheduler) for (const id of seed ? entries : [...schedule.pending, ...schedule.signals.flatMap((s) => s.targets)]) ids.add(id);
  return [...ids];
}

/** The nodes and Sends that start what follows a checkpoint again. */
export function gotoOf(next: NextTasks): Array<string | Send> {
  return [...(next.scheduler ? [SCHEDULER_NODE] : []), ...next.steps.map(sendStep)];
}

/** The schedule to write with `gotoOf(next)`: its Sends are made from `active`, in order. */
const scheduleFor = (read: CheckpointRead, changed: string[]): ScheduleUpdate => ({ replace: { ...read.schedule, active: read.next.steps, changed } });

/**
 * The command that makes a checkpoint the head of its thread again (resume from here), as the scheduler node: it
 * starts again what followed the checkpoint. A legacy checkpoint gets its state rewritten in the current layout.
 */
export function resumeCommand(read: CheckpointRead): Command {
  const update = read.legacy ? { [OUTPUTS_CHANNEL]: new Overwrite(outputsFromRecords(read.records)), schedule: scheduleFor(read, []) } : undefined;
  return new Command({ ...(update ? { update } : {}), goto: gotoOf(read.next) });
}

/**
 * The command that starts a new thread (a fork) with a checkpoint's whole state and edits on top of it, as the
 * scheduler node; on a new thread LangGraph stores the outputs as one snapshot.
 */
export function forkCommand(read: CheckpointRead, edits: StateEdits): Command {
  const records = new Map(read.records);
  for (const [stepId, output] of Object.entries(edits.changedSteps)) records.set(stepId, { output, execution: read.state.executions[stepId] ?? 0 });
  const update = {
    input: edits.input !== undefined ? edits.input : read.state.values.input,
    vars: edits.vars ?? read.state.values.vars,
    schedule: scheduleFor(read, Object.keys(edits.changedSteps)),
    [OUTPUTS_CHANNEL]: { records: Object.fromEntries(records) } satisfies OutputsUpdate,
  };
  return new Command({ update, goto: gotoOf(read.next) });
}

/**
 * Rewrites a legacy thread's latest checkpoint in the current layout before the run executes again (a waiting
 * run decided, a failed run resumed, a run taken over after an upgrade). Steps that were in flight, or had
 * finished in a superstep that did not complete, run again (as after a crash). No-op for a current thread.
 */
export async function upgradeLegacyThread(run: { id: string; definition: string }, checkpointer: BaseCheckpointSaver): Promise<boolean> {
  const latest = await checkpointer.getTuple({ configurable: { thread_id: run.id, checkpoint_ns: "" } });
  if (!latest || !isLegacy(latest)) return false;
  const read = await readCheckpoint(run, checkpointer, latest.checkpoint.id);
  await read.compiled.graph.updateState({ configurable: { thread_id: run.id, checkpoint_id: latest.checkpoint.id } }, resumeCommand(read), SCHEDULER_NODE);
  return true;
}

/**
 * Values to keep with a run thread's latest checkpoint when retention drops its history: the outputs, which the
 * current layout stores as writes (a DeltaChannel), as one snapshot. Nothing for a legacy thread or other graphs.
 */
export async function compactionValues(checkpointer: BaseCheckpointSaver, threadId: string): Promise<Record<string, unknown>> {
  const latest = await checkpointer.getTuple({ configurable: { thread_id: threadId, checkpoint_ns: "" } });
  if (!latest || latest.checkpoint.channel_versions[OUTPUTS_CHANNEL] === undefined || OUTPUTS_CHANNEL in latest.checkpoint.channel_values) return {};
  const state = await stateReader(checkpointer).getState({ configurable: { thread_id: threadId, checkpoint_ns: "", checkpoint_id: latest.checkpoint.id } });
  return { [OUTPUTS_CHANNEL]: new DeltaSnapshot((state.values as Record<string, unknown>)[OUTPUTS_CHANNEL] ?? {}) };
}

/** Edits of a checkpoint's state: the steps whose output changes, and the whole vars or input when they change. */
export interface StateEdits {
  changedSteps: Record<string, unknown>;
  vars?: Record<string, unknown>;
  input?: unknown;
}

/**
 * Turns `path=value` edits (`steps.<id>[.field...]`, `vars.<name>[.field...]`, `input[.field...]`) into new
 * values on top of a checkpoint's values. Values are JSON when they parse, text otherwise.
 */
export function stateEdits(state: CheckpointState, stepIds: string[], edits: Record<string, unknown>): StateEdits {
  const steps: Record<string, unknown> = {};
  let vars: Record<string, unknown> | undefined;
  let input: unknown;
  const known = new Set(stepIds);
  for (const [path, value] of Object.entries(edits)) {
    const [root, ...rest] = path.split(".");
    if (root === "steps") {
      const [stepId, ...field] = rest;
      if (!stepId || !known.has(stepId))
        throw new OrchestratorError("INVALID_INPUT", `--set ${path}: unknown step "${stepId ?? ""}"; use steps.<stepId>[.field]=value with one of ${stepIds.slice(0, 20).join(", ")}${stepIds.length > 20 ? ", …" : ""}`);
      const current = stepId in steps ? steps[stepId] : state.values.steps[stepId];
      steps[stepId] = setPath(current, field, value, path);
    } else if (root === "vars") {
      if (!rest.length) throw new OrchestratorError("INVALID_INPUT", `--set ${path}: name the variable, e.g. vars.count=3`);
      vars = setPath(vars ?? state.values.vars, rest, value, path) as Record<string, unknown>;
    } else if (root === "input") {
      input = setPath(input ?? state.values.input, rest, value, path);
    } else {
      throw new OrchestratorError("INVALID_INPUT", `--set ${path}: the path must start with steps.<stepId>, vars.<name> or input`);
    }
  }
  return { changedSteps: steps, ...(vars ? { vars } : {}), ...(input !== undefined ? { input } : {}) };
}

function setPath(target: unknown, path: string[], value: unknown, fullPath: string): unknown {
  if (!path.length) return value;
  const [head, ...rest] = path;
  const base = target !== null && typeof target === "object" ? target : undefined;
  if (target !== null && target !== undefined && !base)
    throw new OrchestratorError("INVALID_INPUT", `--set ${fullPath}: "${head}" is inside a ${typeof target}, not an object`);
  if (Array.isArray(base)) {
    const index = Number(head);
    if (!Number.isInteger(index) || index < 0) throw new OrchestratorError("INVALID_INPUT", `--set ${fullPath}: "${head}" is not an array index`);
    const copy = [...base];
    copy[index] = setPath(copy[index], rest, value, fullPath);
    return copy;
  }
  const record = (base ?? {}) as Record<string, unknown>;
  return { ...record, [head]: setPath(record[head], rest, value, fullPath) };
}

/** Parses a CLI `path=value` pair: the value is JSON when it parses (3, true, {"a":1}), text otherwise. */
export function parseSetArgument(text: string): [string, unknown] {
  const at = text.indexOf("=");
  if (at <= 0) throw new OrchestratorError("INVALID_INPUT", `--set "${text}": write path=value, e.g. --set steps.draft.text="new text"`);
  const raw = text.slice(at + 1);
  try {
    return [text.slice(0, at).trim(), JSON.parse(raw)];
  } catch {
    return [text.slice(0, at).trim(), raw];
  }
}
