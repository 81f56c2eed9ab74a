import type { SerializedError } from "@/lib/engine/errors";
import type { RunEvent, RunStatus, StepStatus, TokenEvent } from "@/lib/runner/event-types";

/**
 * The state of a run as a live view holds it (editor canvas, run page): the latest execution of every step.
 * Built once from stored state (`liveRunFromRecords`: step records and the last seq they include), then kept up
 * to date by the events after that seq and the streamed tokens. Pure: the server builds the first one, the
 * browser the rest.
 */

export interface LiveStep {
  status: StepStatus;
  execution: number;
  /** Text streamed so far by the current execution (LLM tokens); not stored, see `tokensFrom`. */
  tokens: string;
  /** Offset of `tokens` in the execution's whole text: above 0 when its beginning was not received. */
  tokensFrom?: number;
  output?: unknown;
  error?: SerializedError;
  /** Current attempt under a retry policy (set once a retry happened), and why the last attempt failed. */
  attempt?: number;
  retryError?: SerializedError;
  /** Set while a model call of the step waits in a governor line (`waiting for rate limit`). */
  throttled?: { limit?: string; reason?: string; waitMs?: number };
  /** Log lines of the current execution (console output of a code step). */
  logs?: Array<{ level: string; text: string }>;
}

export interface LiveRun {
  runId: string;
  status: RunStatus;
  lastSeq: number;
  error?: SerializedError;
  steps: Record<string, LiveStep>;
}

/** A stored step execution as the read side returns it (queries.ts, the run page's props). */
export interface StoredStepRecord {
  stepId: string;
  execution: number;
  status: string;
  output: unknown;
  error: SerializedError | null;
  logs?: Array<{ level: string; text: string }>;
  /** A running step whose model call waits in a governor line (from its last `step.throttle` event). */
  throttled?: LiveStep["throttled"];
}

/**
 * The live state of a stored run: the latest execution of each step, with `lastSeq` the last event those records
 * include (the events after it are replayed on top; replaying one the records already include is harmless).
 */
export function liveRunFromRecords(run: {
  runId: string;
  status: RunStatus;
  lastSeq: number;
  error?: SerializedError | null;
  steps: StoredStepRecord[];
}): LiveRun {
  const steps: LiveRun["steps"] = {};
  for (const s of run.steps) {
    if ((steps[s.stepId]?.execution ?? 0) > s.execution) continue;
    steps[s.stepId] = {
      status: s.status as StepStatus,
      execution: s.execution,
      tokens: "",
      output: s.output ?? undefined,
      error: s.error ?? undefined,
      ...(s.logs?.length ? { logs: s.logs } : {}),
      ...(s.throttled ? { throttled: s.throttled } : {}),
    };
  }
  return { runId: run.runId, status: run.status, lastSeq: run.lastSeq, error: run.error ?? undefined, steps };
}

/**
 * Adds a piece of streamed text, placed by its offset in the execution's text, to the text held so far (which
 * starts at `from`). Pieces may overlap what is held (a snapshot sent to a late subscriber and the live tokens
 * around it) or arrive past a gap (tokens before the snapshot): overlaps are dropped, and across a gap the newer
 * text wins. A piece without an offset is appended (a publisher that does not count).
 */
export function mergeStreamedText(held: { text: string; from: number }, piece: { text: string; offset?: number }): { text: string; from: number } {
  if (piece.offset === undefined) return { text: held.text + piece.text, from: held.from };
  if (!held.text) return { text: piece.text, from: piece.offset };
  const end = held.from + held.text.length;
  const pieceEnd = piece.offset + piece.text.length;
  if (piece.offset > end) return { text: piece.text, from: piece.offset };
  if (piece.offset >= held.from) return pieceEnd <= end ? held : { text: held.text + piece.text.slice(end - piece.offset), from: held.from };
  if (pieceEnd < held.from) return held;
  return { text: piece.text + held.text.slice(pieceEnd - held.from), from: piece.offset };
}

/** What a live view receives, in order: stored or live run events and streamed tokens. */
export type LiveUpdate = { event: RunEvent } | { token: TokenEvent };

/**
 * Applies updates, in order, to a live run: the same run back when none changes it (another run's, an event
 * already included, a late token of an earlier execution), else a new one. The steps map is copied once per
 * call however many updates change it: a view catching up on a 1,000-step run gets its thousands of stored
 * events in one call, not a copy of every step per event.
 */
export function applyLiveUpdates(run: LiveRun, updates: readonly LiveUpdate[]): LiveRun {
  let next: LiveRun | null = null;
  const draft = () => (next ??= { ...run, steps: { ...run.steps } });
  for (const update of updates) {
    const current: LiveRun = next ?? run;
    if ("token" in update) {
      const event = update.token;
      if (event.runId !== run.runId) continue;
      const known = current.steps[event.stepId];
      if (known && known.execution > event.execution) continue; // a late token of an earlier execution
      const step = known && known.execution === event.execution ? known : { status: "running" as const, execution: event.execution, tokens: "" };
      const merged = mergeStreamedText({ text: step.tokens, from: step.tokensFrom ?? 0 }, event);
      draft().steps[event.stepId] = { ...step, tokens: merged.text, tokensFrom: merged.from || undefined };
      continue;
    }
    const event = update.event;
    if (event.runId !== run.runId || event.seq <= current.lastSeq) continue;
    const target = draft();
    target.lastSeq = event.seq;
    if (event.type === "run.status") {
      target.status = event.status;
      target.error = event.error;
    } else if (event.type === "step.retry") {
      // The attempt failed and will be tried again: show why, keep the step running.
      const previous = target.steps[event.stepId];
      target.steps[event.stepId] = { ...(previous ?? { status: "running", execution: event.execution, tokens: "" }), attempt: event.attempt + 1, retryError: event.error };
    } else if (event.type === "step.throttle") {
      const previous = target.steps[event.stepId] ?? { status: "running" as const, execution: event.execution, tokens: "" };
      if (previous.execution !== event.execution) continue;
      const { throttled: _was, ...rest } = previous;
      target.steps[event.stepId] =
        event.state === "waiting" ? { ...rest, throttled: { ...(event.limit ? { limit: event.limit } : {}), ...(event.reason ? { reason: event.reason } : {}), ...(event.waitMs !== undefined ? { waitMs: event.waitMs } : {}) } } : rest;
    } else if (event.type === "step.log") {
      const previous = target.steps[event.stepId] ?? { status: "running" as const, execution: event.execution, tokens: "" };
      target.steps[event.stepId] = { ...previous, logs: [...(previous.logs ?? []), { level: event.level, text: event.text }] };
    } else {
      const previous = target.steps[event.stepId];
      const sameExecution = previous && (event.execution === 0 || previous.execution === event.execution);
      target.steps[event.stepId] = {
        status: event.status,
        execution: event.execution || previous?.execution || 0,
        tokens: event.status === "running" && !sameExecution ? "" : (previous?.tokens ?? ""),
        tokensFrom: event.status === "running" && !sameExecution ? undefined : previous?.tokensFrom,
        output: event.output ?? (sameExecution ? previous?.output : undefined),
        error: event.error,
        attempt: event.attempts ?? (sameExecution ? previous?.attempt : undefined),
        logs: sameExecution ? previous?.logs : undefined,
      };
    }
  }
  return next ?? run;
}
