import type { RunEvent, RunSnapshot, TokenEvent } from "@/lib/runner/event-types";

/** Typed Socket.IO contract shared by server.ts and the browser; the events it carries are the runner's. */

export interface ServerToClientEvents {
  "run:event": (event: RunEvent) => void;
  "run:token": (event: TokenEvent) => void;
  /** A workflow someone watches has a new active run (started anywhere: editor, CLI, API, webhook, resume). */
  "workflow:run": (notice: { workflowId: string; runId: string }) => void;
}

export interface ClientToServerEvents {
  /** Joins the run's room; the ack gets the persisted events after `afterSeq` so nothing is missed. */
  "run:subscribe": (
    request: { runId: string; afterSeq?: number },
    ack: (reply: { ok: true; snapshot: RunSnapshot } | { ok: false; error: string }) => void,
  ) => void;
  "run:unsubscribe": (request: { runId: string }) => void;
  /** Joins the workflow's room; the ack has its active run now (null: none), later ones come as `workflow:run`. */
  "workflow:watch": (request: { workflowId: string }, ack: (reply: { ok: true; runId: string | null } | { ok: false; error: string }) => void) => void;
  "workflow:unwatch": (request: { workflowId: string }) => void;
}

/**
 * Every event a client may send, for code that must go through all of them (the cross-user matrix test refuses
 * to pass while one has no entry). The check below fails to compile when the interface gains one not listed here.
 */
export const CLIENT_EVENTS = ["run:subscribe", "run:unsubscribe", "workflow:watch", "workflow:unwatch"] as const satisfies ReadonlyArray<keyof ClientToServerEvents>;
const everyClientEventListed: Exclude<keyof ClientToServerEvents, (typeof CLIENT_EVENTS)[number]> extends never ? true : never = true;
void everyClientEventListed;

export const runRoom = (runId: string) => `run:${runId}`;
/** The run's events for users who may only view it (lib/runner/callback-privacy.ts). */
export const runViewRoom = (runId: string) => `run-view:${runId}`;
export const workflowRoom = (workflowId: string) => `workflow:${workflowId}`;
