import type { SerializedError } from "@/lib/engine/errors";
import type { RunStatus, StepStatus } from "@/lib/runner/event-types";

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
