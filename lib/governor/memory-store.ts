import { intervalsOf, tokenCostMs, type LineLimits } from "./limits";
import type { GovernorStore, Reservation, WaitReason } from "./store";

interface LineState {
  /** When the next request may start (epoch ms), and the next token-paced call. */
  req: number;
  tok: number;
  pausedUntil: number;
  slots: Set<string>;
}

/** The lines of one process (inline mode): the same pacing as the Redis store, in memory. */
export class MemoryGovernorStore implements GovernorStore {
  private readonly lines = new Map<string, LineState>();
  constructor(private readonly now: () => number = Date.now) {}

  private state(key: string): LineState {
    let state = this.lines.get(key);
    if (!state) this.lines.set(key, (state = { req: 0, tok: 0, pausedUntil: 0, slots: new Set() }));
    return state;
  }

  async takeSlots(lines: readonly LineLimits[], leaseId: string) {
    for (const line of lines) if (line.maxConcurrent && this.state(line.key).slots.size >= line.maxConcurrent) return { ok: false as const, key: line.key };
    for (const line of lines) if (line.maxConcurrent) this.state(line.key).slots.add(leaseId);
    return { ok: true as const };
  }

  async releaseSlots(lines: readonly LineLimits[], leaseId: string) {
    for (const line of lines) this.lines.get(line.key)?.slots.delete(leaseId);
  }

  async renewSlots() {}

  async reserve(lines: readonly LineLimits[], tokens: number): Promise<Reservation> {
    const now = this.now();
    let start = now;
    let blockedBy: Reservation["blockedBy"];
    const later = (at: number, key: string, reason: WaitReason) => {
      if (at > start) {
        start = at;
        blockedBy = { key, reason };
      }
    };
    for (const line of lines) {
      const state = this.state(line.key);
      const { requestMs, tokenMs } = intervalsOf(line);
      later(state.pausedUntil, line.key, "paused");
      if (requestMs) later(state.req, line.key, "requests");
      if (tokenMs) later(state.tok, line.key, "tokens");
    }
    const marks: Reservation["marks"] = [];
    for (const line of lines) {
      const state = this.state(line.key);
      const { requestMs } = intervalsOf(line);
      const tokStep = tokenCostMs(line, tokens);
      const mark: Reservation["marks"][number] = { key: line.key };
      if (requestMs) state.req = mark.req = start + (mark.reqStep = requestMs);
      if (tokStep) state.tok = mark.tok = start + (mark.tokStep = tokStep);
      marks.push(mark);
    }
    return { waitMs: start - now, ...(blockedBy ? { blockedBy } : {}), marks };
  }

  async refund(reservation: Reservation) {
    for (const mark of reservation.marks) {
      const state = this.lines.get(mark.key);
      if (!state) continue;
      if (mark.req !== undefined && state.req === mark.req) state.req -= mark.reqStep!;
      if (mark.tok !== undefined && state.tok === mark.tok) state.tok -= mark.tokStep!;
    }
  }

  async settle(lines: readonly LineLimits[], tokenDelta: number) {
    for (const line of lines) {
      const { tokenMs } = intervalsOf(line);
      if (tokenMs && tokenDelta) this.state(line.key).tok += tokenDelta * tokenMs;
    }
  }

  async pause(key: string, ms: number) {
    const state = this.state(key);
    state.pausedUntil = Math.max(state.pausedUntil, this.now() + ms);
  }

  async pausedFor(lines: readonly LineLimits[]) {
    const now = this.now();
    let result: { ms: number; key?: string } = { ms: 0 };
    for (const line of lines) {
      const ms = (this.lines.get(line.key)?.pausedUntil ?? 0) - now;
      if (ms > result.ms) result = { ms, key: line.key };
    }
    return result;
  }
}
