import type { SqlCheckpointSaver } from "@/lib/checkpoint/sql-saver";
import type { Db } from "@/lib/db";
import { compileStoredWorkflow, nodeName, outputChannel, SCHEDULER_NODE, type CompiledWorkflow, type ScheduleState, type StepOutputRecord } from "@/lib/engine/compile";
import { OrchestratorError } from "@/lib/engine/errors";

/**
 * The checkpoint browser's read side (time travel): a run's checkpoints, what each one changed, and the full
 * state at one of them. Every query is scoped to the run's owner.
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

export async function ownedRun(db: Db, ownerId: string, runId: string) {
  const run = await db.run.findFirst({ where: { id: runId, ownerId } });
  if (!run) throw new OrchestratorError("NOT_FOUND", `run "${runId}" not found`);
  return run;
}

const stepOfChannel = (channel: string) => (channel.startsWith("out.") ? channel.slice(4) : null);

export async function listCheckpoints(deps: Deps, ownerId: string, runId: string): Promise<CheckpointSummary[]> {
  await ownedRun(deps.db, ownerId, runId);
  const history = await deps.checkpointer.history(runId);
  const byId = new Map(history.map((entry) => [entry.checkpointId, entry]));
  const onPath = new Set<string>();
  for (let id: string | null | undefined = history[0]?.checkpointId; id; id = byId.get(id)?.parentCheckpointId) onPath.add(id);
  return history.map((entry) => {
    const parent = entry.parentCheckpointId ? byId.get(entry.parentCheckpointId) : undefined;
    const changedChannels = Object.entries(entry.channelVersions)
      .filter(([channel, version]) => parent?.channelVersions[channel] !== version)
      .map(([channel]) => channel);
    return {
      checkpointId: entry.checkpointId,
      parentCheckpointId: entry.parentCheckpointId,
      step: Number(entry.metadata?.step ?? 0),
      createdAt: entry.createdAt.toISOString(),
      source: String(entry.metadata?.source ?? "loop"),
      changed: {
        steps: changedChannels.map(stepOfChannel).filter((id): id is string => id !== null),
        vars: changedChannels.includes("vars"),
        input: changedChannels.includes("input"),
      },
      current: onPath.has(entry.checkpointId),
    };
  });
}

/** The run's graph, compiled only to read or edit its checkpoints (nothing executes). */
export function inspectionGraph(definitionJson: string, runId: string, checkpointer: SqlCheckpointSaver): CompiledWorkflow {
  return compileStoredWorkflow(definitionJson, { runId, settings: {} }, checkpointer);
}

export async function getCheckpointState(deps: Deps, ownerId: string, runId: string, checkpointId: string): Promise<CheckpointState> {
  const run = await ownedRun(deps.db, ownerId, runId);
  return (await readCheckpoint(run, deps.checkpointer, checkpointId)).state;
}

/**
 * One checkpoint of a run (its latest without `checkpointId`), read once: the compiled graph to edit it with,
 * the state as users see it, and the graph nodes that run after it (to start them again after an edit).
 */
export async function readCheckpoint(run: { id: string; definition: string }, checkpointer: SqlCheckpointSaver, checkpointId?: string) {
  const runId = run.id;
  const compiled = inspectionGraph(run.definition, runId, checkpointer);
  const snapshot = await compiled.graph.getState({ configurable: { thread_id: runId, ...(checkpointId ? { checkpoint_id: checkpointId } : {}) } });
  const found = snapshot.config?.configurable?.checkpoint_id as string | undefined;
  if (!found || (checkpointId && found !== checkpointId))
    throw new OrchestratorError("NOT_FOUND", `run "${runId}" has no checkpoint "${checkpointId ?? "latest"}" (list them with: orchestrator checkpoints ${runId})`);
  const values = snapshot.values as Record<string, unknown>;
  const executions = Object.fromEntries([...compiled.recordsOf(values)].map(([id, record]) => [id, record.execution]));
  const state: CheckpointState = {
    checkpointId: found,
    createdAt: snapshot.createdAt ?? "",
    values: { input: values.input ?? {}, vars: (values.vars as Record<string, unknown>) ?? {}, steps: compiled.outputsOf(values) },
    next: nextSteps(snapshot.next, values.schedule as ScheduleState | undefined),
    executions,
  };
  const nextNodes = snapshot.next.filter((node) => node === SCHEDULER_NODE || node.startsWith(nodeName("")));
  return { compiled, state, nextNodes };
}

/** Step ids LangGraph would run next; the scheduler node stands for the steps it is about to start. */
function nextSteps(nodes: string[], schedule: ScheduleState | undefined): string[] {
  const ids = new Set<string>();
  for (const node of nodes) {
    if (node === SCHEDULER_NODE) for (const id of [...(schedule?.pending ?? []), ...(schedule?.signals ?? []).flatMap((s) => s.targets)]) ids.add(id);
    else if (node.startsWith(nodeName(""))) ids.add(node.slice(nodeName("").length));
  }
  return [...ids];
}

/**
 * Turns `path=value` edits (`steps.<id>[.field...]`, `vars.<name>[.field...]`, `input[.field...]`) into channel
 * updates on top of a checkpoint's values. Values are JSON when they parse, text otherwise.
 */
export function stateEdits(
  state: CheckpointState,
  stepIds: string[],
  edits: Record<string, unknown>,
): { update: Record<string, unknown>; changedSteps: Record<string, unknown>; input?: unknown } {
  const steps: Record<string, unknown> = {};
  let vars: Record<string, unknown> | undefined;
  let input: unknown;
  for (const [path, value] of Object.entries(edits)) {
    const [root, ...rest] = path.split(".");
    if (root === "steps") {
      const [stepId, ...field] = rest;
      if (!stepId || !stepIds.includes(stepId))
        throw new OrchestratorError("INVALID_INPUT", `--set ${path}: unknown step "${stepId ?? ""}"; use steps.<stepId>[.field]=value with one of ${stepIds.join(", ")}`);
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
  const update: Record<string, unknown> = {};
  for (const [stepId, output] of Object.entries(steps))
    update[outputChannel(stepId)] = { output, execution: state.executions[stepId] ?? 0 } satisfies StepOutputRecord;
  if (vars) update.vars = vars;
  if (input !== undefined) update.input = input;
  return { update, changedSteps: steps, ...(input !== undefined ? { input } : {}) };
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
