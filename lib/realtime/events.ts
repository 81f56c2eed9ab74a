import type { SerializedError } from "@/lib/engine/errors";

/**
 * Typed Socket.IO contract shared by server.ts and the browser. Every persisted run event has a per-run `seq`
 * (1, 2, 3 … without gaps); a client that reconnects asks for the events after the last seq it saw.
 * Token events are not persisted: they carry the seq of the last persisted event and are only a live preview
 * (the step's final output has the whole text).
 */

export type RunStatus = "queued" | "running" | "waiting" | "succeeded" | "failed" | "cancelled";
export type StepStatus = "queued" | "running" | "waiting" | "succeeded" | "failed";

export type RunEventBody =
  | { type: "run.status"; status: RunStatus; error?: SerializedError }
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
  /** A line of a step's log (console output of a code step, progress of a tool), stored with the run. */
  | { type: "step.log"; stepId: string; execution: number; level: string; text: string };

export type RunEvent = RunEventBody & { runId: string; seq: number; at: string };

export interface TokenEvent {
  runId: string;
  stepId: string;
  execution: number;
  text: string;
}

export interface RunSnapshot {
  runId: string;
  status: RunStatus;
  events: RunEvent[];
}

export interface ServerToClientEvents {
  "run:event": (event: RunEvent) => void;
  "run:token": (event: TokenEvent) => void;
}

export interface ClientToServerEvents {
  /** Joins the run's room; the ack gets the persisted events after `afterSeq` so nothing is missed. */
  "run:subscribe": (
    request: { runId: string; afterSeq?: number },
    ack: (reply: { ok: true; snapshot: RunSnapshot } | { ok: false; error: string }) => void,
  ) => void;
  "run:unsubscribe": (request: { runId: string }) => void;
}

export const runRoom = (runId: string) => `run:${runId}`;
