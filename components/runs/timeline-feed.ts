import type { RunEvent } from "@/lib/runner/event-types";

/**
 * The run page's live events for the timeline, which mounts after the page opened: the page pushes every event it
 * receives; the timeline, once loaded, takes the ones after its own last seq and then each new batch. Kept until
 * the timeline has taken them (then only new batches pass through).
 */
export interface TimelineFeed {
  push(events: RunEvent[]): void;
  /** Calls `listener` with the events held so far, then with each new batch; returns the unsubscribe. */
  subscribe(listener: (events: RunEvent[]) => void): () => void;
}

export function createTimelineFeed(): TimelineFeed {
  let held: RunEvent[] = [];
  const listeners = new Set<(events: RunEvent[]) => void>();
  return {
    push(events) {
      if (!events.length) return;
      if (!listeners.size) {
        held = held.concat(events);
        return;
      }
      for (const listener of listeners) listener(events);
    },
    subscribe(listener) {
      listeners.add(listener);
      if (held.length) {
        const events = held;
        held = [];
        listener(events);
      }
      return () => void listeners.delete(listener);
    },
  };
}
