"use client";

import { useEffect, useRef } from "react";
import { io, type Socket } from "socket.io-client";
import type { RunEvent, TokenEvent } from "@/lib/runner/event-types";
import type { ClientToServerEvents, ServerToClientEvents } from "./events";

type ClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>;
let socket: ClientSocket | undefined;

/** One Socket.IO connection per browser tab, to the app's own origin. */
function getSocket(): ClientSocket {
  socket ??= io({ transports: ["websocket", "polling"] });
  return socket;
}

/**
 * Watches a workflow for runs started anywhere (editor, CLI, API, webhook, resume): calls `onActiveRun` with the
 * active run when the watch starts (null: none) and with each new one after.
 */
export function useWorkflowRuns(workflowId: string | null | undefined, onActiveRun: (runId: string | null) => void) {
  const callbackRef = useRef(onActiveRun);
  callbackRef.current = onActiveRun;

  useEffect(() => {
    if (!workflowId) return;
    const s = getSocket();
    const onRun = (notice: { workflowId: string; runId: string }) => {
      if (notice.workflowId === workflowId) callbackRef.current(notice.runId);
    };
    const watch = () => s.emit("workflow:watch", { workflowId }, (reply) => reply.ok && callbackRef.current(reply.runId));
    s.on("workflow:run", onRun);
    s.on("connect", watch);
    if (s.connected) watch();
    return () => {
      s.off("workflow:run", onRun);
      s.off("connect", watch);
      s.emit("workflow:unwatch", { workflowId });
    };
  }, [workflowId]);
}

/**
 * Follows a run: subscribes with the last seq seen (on every (re)connect, so nothing is missed), replays the
 * stored events from the ack, then live events; drops duplicates by seq.
 */
export function useRunEvents(
  runId: string | null | undefined,
  initialLastSeq: number,
  handlers: { onEvent(event: RunEvent): void; onToken?(event: TokenEvent): void },
) {
  const handlersRef = useRef(handlers);
  handlersRef.current = handlers;

  useEffect(() => {
    if (!runId) return;
    const s = getSocket();
    let lastSeq = initialLastSeq;
    // Live events that arrive before the subscription's catch-up are held back, so order is kept.
    let caughtUp = false;
    let held: RunEvent[] = [];
    const deliver = (event: RunEvent) => {
      if (event.runId !== runId || event.seq <= lastSeq) return;
      lastSeq = event.seq;
      handlersRef.current.onEvent(event);
    };
    const onLive = (event: RunEvent) => (caughtUp ? deliver(event) : void held.push(event));
    const onToken = (event: TokenEvent) => {
      if (event.runId === runId) handlersRef.current.onToken?.(event);
    };
    const subscribe = () => {
      caughtUp = false;
      s.emit("run:subscribe", { runId, afterSeq: lastSeq }, (reply) => {
        const events = [...(reply.ok ? reply.snapshot.events : []), ...held].sort((a, b) => a.seq - b.seq);
        held = [];
        caughtUp = true;
        events.forEach(deliver);
        // What running steps streamed before this subscription (placed by offset, so overlaps are harmless).
        if (reply.ok) reply.snapshot.streaming?.forEach((token) => onToken(token));
      });
    };
    s.on("run:event", onLive);
    s.on("run:token", onToken);
    s.on("connect", subscribe);
    if (s.connected) subscribe();
    return () => {
      s.off("run:event", onLive);
      s.off("run:token", onToken);
      s.off("connect", subscribe);
      s.emit("run:unsubscribe", { runId });
    };
  }, [runId, initialLastSeq]);
}
