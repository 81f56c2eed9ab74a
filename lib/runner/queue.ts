/**
 * In-process run queue: at most `concurrency` runs execute at once, the rest wait in arrival order.
 * (Scale-out mode swaps this for BullMQ behind the same `enqueue`.)
 */
export class RunQueue {
  private readonly waiting: Array<() => void> = [];
  private active = 0;

  constructor(private readonly concurrency: number) {}

  enqueue<T>(job: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const start = () => {
        this.active++;
        job()
          .then(resolve, reject)
          .finally(() => {
            this.active--;
            this.waiting.shift()?.();
          });
      };
      if (this.active < this.concurrency) start();
      else this.waiting.push(start);
    });
  }

  get size() {
    return { active: this.active, waiting: this.waiting.length };
  }
}
