/**
 * A weighted semaphore: holders take `weight` of a capacity (read on every check, so it can come from the
 * environment); the rest wait in order, and stop waiting when their run is cancelled. One holder larger than
 * the whole capacity still gets in, alone. Used for map concurrency (weight 1) and the sandboxes' memory (MB).
 */
export class Semaphore {
  private used = 0;
  private readonly queue: Array<{ weight: number; grant(): void }> = [];

  constructor(private readonly capacity: () => number) {}

  get inUse() {
    return this.used;
  }

  /** Resolves with the release function once `weight` fits. */
  acquire(weight: number, signal: AbortSignal): Promise<() => void> {
    if (signal.aborted) return Promise.reject(signal.reason ?? new Error("aborted"));
    if (!this.queue.length && this.fits(weight)) return Promise.resolve(this.take(weight));
    return new Promise((resolve, reject) => {
      const entry = {
        weight,
        grant: () => {
          signal.removeEventListener("abort", cancel);
          resolve(this.take(weight));
        },
      };
      const cancel = () => {
        this.queue.splice(this.queue.indexOf(entry), 1);
        reject(signal.reason ?? new Error("aborted"));
        this.grantWaiting(); // a large waiter at the head may have held up smaller ones
      };
      this.queue.push(entry);
      signal.addEventListener("abort", cancel, { once: true });
    });
  }

  private fits(weight: number) {
    return this.used === 0 || this.used + weight <= this.capacity();
  }

  private take(weight: number) {
    this.used += weight;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.used -= weight;
      this.grantWaiting();
    };
  }

  private grantWaiting() {
    while (this.queue.length && this.fits(this.queue[0].weight)) this.queue.shift()!.grant();
  }
}
