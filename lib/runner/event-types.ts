import type { SerializedError } from "@/lib/engine/errors";

/**
 * The events a run's execution records (the runner writes them; lib/realtime carries them to browsers; the run
 * page, the CLI and the API read them). Every persisted run event has a per-run `seq` (1, 2, 3 … without gaps);
 * a client that reconnects asks for the events after the last seq it saw. Token events are not in the event log:
 * they are only a live preview, placed by their offset (the step's final output has the whole text; a process
 * without a realtime server stores them apart for a while, see stored-tokens.ts). Types only: browser code
 * imports them too.
 */

export type RunStatus = "queued" | "running" | "waiting" | "succeeded" | "failed" | "cancelled";
/** `cancelled`: the step was in flight (or waiting) when its run was cancelled. */
export type StepStatus = "queued" | "running" | "waiting" | "succeeded" | "failed" | "cancelled";

export type RunEventBody =
  /** `reason`: why a queued run has not started (waiting for a concurrency slot). */
  | { type: "run.status"; status: RunStatus; error?: SerializedError; reason?: string }
  | {
      type: "step.status";
      stepId: string;
      status: StepStatus;
      execution: number;
      output?: unknown;
      error?: SerializedError;
      durationMs?: number;
      /** Attempts made when the step ended (with a retry policy). */
      attempts?: number;
    }
  | { type: "step.retry"; stepId: string; execution: number; attempt: number; error: SerializedError; delayMs: number }
  /**
   * A model call of the step waits in a governor line (`waiting`: for a concurrency slot, the line's request or
   * token pacing, or a pause after a 429) or goes on (`resumed`). The node shows `waiting for rate limit` meanwhile.
   */
  | {
      type: "step.throttle";
      stepId: string;
      execution: number;
      state: "waiting" | "resumed";
      /** Which line: e.g. `model "gpt-4o-mini"`, `gateway http://…/v1`. */
      limit?: string;
      reason?: "concurrency" | "requests" | "tokens" | "paused";
      /** The expected wait, when known. */
      waitMs?: number;
    }
  /** A line of a step's log (console output of a code step, progress of a tool), stored with the run. */
  | { type: "step.log"; stepId: string; execution: number; level: string; text: string };

export type RunEvent = RunEventBody & { runId: string; seq: number; at: string };

export interface TokenEvent {
  runId: string;
  stepId: string;
  execution: number;
  text: string;
  /** Characters the execution streamed before this text, so a receiver can place it (and see what it missed). */
  offset?: number;
}

export interface RunSnapshot {
  runId: string;
  status: RunStatus;
  events: RunEvent[];
  /** The text streamed so far by steps still running (a subscriber that joins mid-step gets it), with offsets. */
  streaming?: TokenEvent[];
}
