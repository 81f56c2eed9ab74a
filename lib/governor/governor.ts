import { randomUUID } from "node:crypto";
import type { LineLimits } from "./limits";
import { SLOT_LEASE_MS, type GovernorStore, type Reservation, type WaitReason } from "./store";

/** What a call waits for, as the `waiting for rate limit` event tells it. */
export interface WaitInfo {
  key: string;
  label: string;
  reason: WaitReason;
  /** Known for pacing and pauses; a concurrency slot comes when another call ends. */
  waitMs?: number;
}

export interface AcquireRequest {
  lines: readonly LineLimits[];
  /** Tokens the call may use (prompt estimate + max tokens): what the token pacing reserves before the call. */
  estimatedTokens: number;
  signal: AbortSignal;
  /** Called when the call starts waiting (again, when what it waits for changes). */
  onWait?(info: WaitInfo): void;
  /** Called once the call may go, if it waited. */
  onResume?(): void;
}

export interface Permit {
  /** Ends the call: corrects the token pacing by the reported usage and frees the concurrency slots. */
  release(usedTokens?: number): Promise<void>;
}

/** Waits shorter than this are not worth an event (a paced line's next slot a few milliseconds away). */
export const WAIT_EVENT_MIN_MS = 200;
/** How often the first waiter of a full line asks the store again (slots freed in another process). */
const SLOT_POLL_MS = 100;

/**
 * The model governor: before a model call, a slot on every line that limits concurrency (waiters in order, per
 * process), then a reserved start after the lines' request and token pacing and any pause a 429 set. Cancelling
 * (the signal) stops the wait and gives the reserved start back.
 */
export class Governor {
  /** Waiters for concurrency slots, per set of limited lines, in order of arrival (this process's share of fairness). */
  private readonly slotQueues = new Map<string, Array<{ wake(): void }>>();

  constructor(readonly store: GovernorStore) {}

  async acquire(request: AcquireRequest): Promise<Permit> {
    const { lines, signal } = request;
    let waited = false;
    const wait = (info: WaitInfo) => {
      waited = true;
      request.onWait?.(info);
    };
    const leaseId = randomUUID();
    const limited = lines.filter((l) => l.maxConcurrent);
    if (limited.length) await this.takeSlots(limited, leaseId, signal, wait);
    let renew: NodeJS.Timeout | undefined;
    try {
      if (limited.length) {
        renew = setInterval(() => void this.store.renewSlots(limited, leaseId).catch(() => undefined), SLOT_LEASE_MS / 3);
        renew.unref();
      }
      await this.reserveStart(lines, request.estimatedTokens, signal, wait);
    } catch (err) {
      clearInterval(renew);
      if (limited.length) await this.freeSlots(limited, leaseId);
      throw err;
    }
    if (waited) request.onResume?.();
    let released = false;
    return {
      release: async (usedTokens?: number) => {
        if (released) return;
        released = true;
        clearInterval(renew);
        if (usedTokens !== undefined && lines.some((l) => l.tpm)) await this.store.settle(lines, usedTokens - request.estimatedTokens).catch(() => undefined);
        if (limited.length) await this.freeSlots(limited, leaseId);
      },
    };
  }

  /** Stops every call on a line for `ms` (a provider's 429 with Retry-After), in every process sharing the store. */
  pause(key: string, ms: number): Promise<void> {
    return this.store.pause(key, ms);
  }

  private async reserveStart(lines: readonly LineLimits[], tokens: number, signal: AbortSignal, wait: (info: WaitInfo) => void) {
    const label = (key: string | undefined) => lines.find((l) => l.key === key)?.label ?? String(key);
    for (;;) {
      signal.throwIfAborted();
      const reservation: Reservation = await this.store.reserve(lines, tokens);
      if (reservation.waitMs <= 0) return;
      const blocked = reservation.blockedBy!;
      if (reservation.waitMs >= WAIT_EVENT_MIN_MS) wait({ key: blocked.key, label: label(blocked.key), reason: blocked.reason, waitMs: Math.round(reservation.waitMs) });
      try {
        await sleep(reservation.waitMs, signal);
      } catch (err) {
        await this.store.refund(reservation).catch(() => undefined);
        throw err;
      }
      // A 429 may have paused the line while this call waited for its start: it lines up again after the pause.
      const paused = await this.store.pausedFor(lines);
      if (paused.ms <= 0) return;
      await this.store.refund(reservation).catch(() => undefined);
      wait({ key: paused.key!, label: label(paused.key), reason: "paused", waitMs: Math.round(paused.ms) });
      await sleep(paused.ms, signal);
    }
  }

  private async takeSlots(limited: LineLimits[], leaseId: string, signal: AbortSignal, wait: (info: WaitInfo) => void) {
    const group = limited.map((l) => l.key).sort().join("\n");
    const queue = this.slotQueues.get(group) ?? [];
    this.slotQueues.set(group, queue);
    let wake = () => {};
    // A wake that comes while this waiter is asking the store is kept for the next round, not lost.
    let woken = false;
    const me = {
      wake: () => {
        woken = true;
        wake();
      },
    };
    queue.push(me);
    // Announced only once the wait lasts (a slot freed a moment later is not worth an event).
    let blockedKey = limited[0].key;
    const announce = setTimeout(() => wait({ key: blockedKey, label: limited.find((l) => l.key === blockedKey)?.label ?? blockedKey, reason: "concurrency" }), WAIT_EVENT_MIN_MS);
    try {
      for (;;) {
        signal.throwIfAborted();
        if (queue[0] === me) {
          const taken = await this.store.takeSlots(limited, leaseId);
          if (taken.ok) return;
          blockedKey = taken.key;
        }
        if (woken) {
          woken = false;
          continue;
        }
        // The first waiter asks again after a while (another process may free a slot) or when a call here ends;
        // the others when they become first.
        await new Promise<void>((resolve, reject) => {
          const timer = queue[0] === me ? setTimeout(done, SLOT_POLL_MS) : undefined;
          function done() {
            woken = false;
            clearTimeout(timer);
            signal.removeEventListener("abort", stop);
            resolve();
          }
          function stop() {
            clearTimeout(timer);
            reject(signal.reason ?? new Error("aborted"));
          }
          wake = done;
          signal.addEventListener("abort", stop, { once: true });
        });
      }
    } finally {
      clearTimeout(announce);
      const at = queue.indexOf(me);
      if (at >= 0) queue.splice(at, 1);
      if (at === 0) queue[0]?.wake();
      if (!queue.length) this.slotQueues.delete(group);
    }
  }

  private async freeSlots(limited: LineLimits[], leaseId: string) {
    await this.store.releaseSlots(limited, leaseId).catch(() => undefined);
    // A call here ended: the first waiter of every group sharing one of its lines asks at once.
    const keys = new Set(limited.map((l) => l.key));
    for (const [group, queue] of this.slotQueues) if (group.split("\n").some((k) => keys.has(k))) queue[0]?.wake();
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason ?? new Error("aborted"));
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", stop);
      resolve();
    }, ms);
    const stop = () => {
      clearTimeout(timer);
      reject(signal.reason ?? new Error("aborted"));
    };
    signal.addEventListener("abort", stop, { once: true });
  });
}
