/**
 * In-process run queue: at most `concurrency` runs execute at once, the rest wait in arrival order.
 * In queue mode (EXECUTION_MODE=queue) the Runner hands runs to BullMQ instead (lib/queue), and a worker's runs
 * pass through this queue with WORKER_CONCURRENCY slots.
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
