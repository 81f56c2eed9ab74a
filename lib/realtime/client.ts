"use client";

import { useEffect, useRef } from "react";
import { io, type Socket } from "socket.io-client";
import type { RunEvent, TokenEvent } from "@/lib/runner/event-types";
import type { LiveUpdate } from "@/lib/runner/live-run";
import { whenIdle } from "@/lib/when-idle";
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
    let unwatch: (() => void) | undefined;
    // Connecting costs the page some 20–30 ms of script: not while it opens (a run going on when the page was
    // rendered is followed at once by useRunEvents; the watch's answer names any run started since).
    const cancel = whenIdle(() => {
      const s = getSocket();
      const onRun = (notice: { workflowId: string; runId: string }) => {
        if (notice.workflowId === workflowId) callbackRef.current(notice.runId);
      };
      const watch = () => s.emit("workflow:watch", { workflowId }, (reply) => reply.ok && callbackRef.current(reply.runId));
      s.on("workflow:run", onRun);
      s.on("connect", watch);
      if (s.connected) watch();
      unwatch = () => {
        s.off("workflow:run", onRun);
        s.off("connect", watch);
        s.emit("workflow:unwatch", { workflowId });
      };
    });
    return () => {
      cancel();
      unwatch?.();
    };
  }, [workflowId]);
}

/** Queued run updates are delivered on the next animation frame, or after this long (a hidden tab has no frames). */
const BATCH_FALLBACK_MS = 100;

/**
 * Follows a run: subscribes with the last seq seen (on every (re)connect, so nothing is missed), replays the
 * stored events from the ack, then live events; drops duplicates by seq. Events and tokens reach `onUpdates` in
 * the order received, in batches: the stored events of a catch-up at once, live ones once per animation frame
 * (a 1,000-step run sends thousands of events; one store update and render each would fall behind).
 */
export function useRunEvents(runId: string | null | undefined, initialLastSeq: number, handlers: { onUpdates(updates: LiveUpdate[]): void }) {
  const handlersRef = useRef(handlers);
  handlersRef.current = handlers;

  useEffect(() => {
    if (!runId) return;
    const s = getSocket();
    let lastSeq = initialLastSeq;
    // Live events that arrive before the subscription's catch-up are held back, so order is kept.
    let caughtUp = false;
    let held: RunEvent[] = [];
    let pending: LiveUpdate[] = [];
    let frame: number | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const flush = () => {
      if (frame !== undefined) cancelAnimationFrame(frame);
      clearTimeout(timer);
      frame = timer = undefined;
      const updates = pending;
      pending = [];
      if (updates.length) handlersRef.current.onUpdates(updates);
    };
    const queue = (update: LiveUpdate) => {
      pending.push(update);
      if (timer !== undefined) return;
      // A hidden tab gets no animation frames: the timer delivers then.
      frame = requestAnimationFrame(flush);
      timer = setTimeout(flush, BATCH_FALLBACK_MS);
    };
    const deliver = (event: RunEvent) => {
      if (event.runId !== runId || event.seq <= lastSeq) return;
      lastSeq = event.seq;
      queue({ event });
    };
    const onLive = (event: RunEvent) => (caughtUp ? deliver(event) : void held.push(event));
    const onToken = (event: TokenEvent) => {
      if (event.runId === runId) queue({ token: event });
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
      flush(); // what arrived is not lost: the view keeps it
    };
  }, [runId, initialLastSeq]);
}
