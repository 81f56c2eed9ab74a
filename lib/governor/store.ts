import type { LineLimits } from "./limits";

/** Why a call waits: a concurrency slot, its line's request or token pacing, or a pause after a 429. */
export type WaitReason = "concurrency" | "requests" | "tokens" | "paused";

/** A reserved start time on the lines of one call (what `refund` gives back when the call never starts). */
export interface Reservation {
  /** Milliseconds from now until the call may start. */
  waitMs: number;
  /** The line and limit that decided the start (undefined: nothing to wait for). */
  blockedBy?: { key: string; reason: WaitReason };
  /** Per line, the pacing marks this reservation set: a refund undoes them only if no later call moved them on. */
  marks: Array<{ key: string; req?: number; reqStep?: number; tok?: number; tokStep?: number }>;
}

/**
 * Where the governor keeps its lines: this process's memory (one process) or Redis (queue mode: every worker
 * shares the lines, so a limit holds across all of them). Times are the store's own clock (Redis TIME), so
 * workers with skewed clocks still space calls right.
 */
export interface GovernorStore {
  /** Takes a concurrency slot on every line that limits concurrency, or none: ok, or which line is full. */
  takeSlots(lines: readonly LineLimits[], leaseId: string): Promise<{ ok: true } | { ok: false; key: string }>;
  releaseSlots(lines: readonly LineLimits[], leaseId: string): Promise<void>;
  /** Keeps a held slot's lease alive (a process that dies holding one frees it when the lease runs out). */
  renewSlots(lines: readonly LineLimits[], leaseId: string): Promise<void>;
  /** Reserves the call's start on every line: after the lines' request and token pacing and any pause. */
  reserve(lines: readonly LineLimits[], tokens: number): Promise<Reservation>;
  /** Gives a reserved start back (the call was cancelled or paused before it started). */
  refund(reservation: Reservation): Promise<void>;
  /** Corrects a line's token pacing by what the call really used (estimate → reported usage; may be negative). */
  settle(lines: readonly LineLimits[], tokenDelta: number): Promise<void>;
  /** Stops every call on the line until `ms` from now (a provider's 429 with Retry-After). */
  pause(key: string, ms: number): Promise<void>;
  /** How long the lines are still paused (0: not paused), and which one. */
  pausedFor(lines: readonly LineLimits[]): Promise<{ ms: number; key?: string }>;
  close?(): Promise<void>;
}

/** How long a concurrency slot's lease lasts without renewal; the holder renews it every third of that. */
export const SLOT_LEASE_MS = 60_000;
