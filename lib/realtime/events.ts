import type { RunEvent, RunSnapshot, TokenEvent } from "@/lib/runner/event-types";

/** Typed Socket.IO contract shared by server.ts and the browser; the events it carries are the runner's. */

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
