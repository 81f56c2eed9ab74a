import { logger } from "@/lib/logger";
import type { LineLimits } from "./limits";
import { MemoryGovernorStore } from "./memory-store";
import type { GovernorStore, Reservation } from "./store";

/**
 * Queue mode's store when Redis goes away: the shared lines (Redis) while they answer, this process's own lines
 * (memory) while they do not — a Redis restart must not fail the runs' model calls (the queue's own promise: no
 * accepted run is lost). Limits then hold per process instead of across workers until Redis is back; a slot or a
 * reservation is given back to the store that granted it. Logged once per outage.
 */
export class ResilientGovernorStore implements GovernorStore {
  private outage = false;
  private readonly localLeases = new Set<string>();
  private readonly localReservations = new WeakSet<Reservation>();

  constructor(
    private readonly shared: GovernorStore,
    private readonly local: GovernorStore = new MemoryGovernorStore(),
  ) {}

  /** The shared store's answer, or the local one's when the shared store fails (and whether it was local). */
  private async either<T>(shared: () => Promise<T>, local: () => Promise<T>): Promise<{ value: T; local: boolean }> {
    try {
      const value = await shared();
      if (this.outage) {
        this.outage = false;
        logger.info("the model governor reaches Redis again: limits hold across all workers");
      }
      return { value, local: false };
    } catch (err) {
      if (!this.outage) {
        this.outage = true;
        logger.warn({ err: err instanceof Error ? err.message : String(err) }, "the model governor cannot reach Redis: limits are counted in each process until it answers");
      }
      return { value: await local(), local: true };
    }
  }

  async takeSlots(lines: readonly LineLimits[], leaseId: string) {
    const { value, local } = await this.either(
      () => this.shared.takeSlots(lines, leaseId),
      () => this.local.takeSlots(lines, leaseId),
    );
    if (local && value.ok) this.localLeases.add(leaseId);
    return value;
  }

  async releaseSlots(lines: readonly LineLimits[], leaseId: string) {
    if (this.localLeases.delete(leaseId)) return this.local.releaseSlots(lines, leaseId);
    // Not given back (Redis away): the slot's lease runs out by itself.
    await this.shared.releaseSlots(lines, leaseId).catch(() => undefined);
  }

  async renewSlots(lines: readonly LineLimits[], leaseId: string) {
    if (this.localLeases.has(leaseId)) return this.local.renewSlots(lines, leaseId);
    await this.shared.renewSlots(lines, leaseId);
  }

  async reserve(lines: readonly LineLimits[], tokens: number): Promise<Reservation> {
    const { value, local } = await this.either(
      () => this.shared.reserve(lines, tokens),
      () => this.local.reserve(lines, tokens),
    );
    if (local) this.localReservations.add(value);
    return value;
  }

  async refund(reservation: Reservation) {
    if (this.localReservations.has(reservation)) return this.local.refund(reservation);
    await this.shared.refund(reservation);
  }

  async settle(lines: readonly LineLimits[], tokenDelta: number) {
    await this.either(
      () => this.shared.settle(lines, tokenDelta),
      () => this.local.settle(lines, tokenDelta),
    );
  }

  async pause(key: string, ms: number) {
    // Also here: calls counted locally during an outage must pause too.
    await Promise.all([this.local.pause(key, ms), this.shared.pause(key, ms).catch(() => undefined)]);
  }

  async pausedFor(lines: readonly LineLimits[]) {
    return (
      await this.either(
        () => this.shared.pausedFor(lines),
        () => this.local.pausedFor(lines),
      )
    ).value;
  }

  async close() {
    await this.shared.close?.();
  }
}
