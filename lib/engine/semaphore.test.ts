import { describe, expect, it } from "vitest";
import { Semaphore } from "./semaphore";

const never = new AbortController().signal;

describe("Semaphore", () => {
  it("lets holders in while their weights fit, the rest in order as capacity comes back", async () => {
    const sem = new Semaphore(() => 3);
    const order: string[] = [];
    const a = await sem.acquire(2, never);
    const b = sem.acquire(2, never).then((release) => (order.push("b"), release));
    const c = sem.acquire(1, never).then((release) => (order.push("c"), release)); // fits, but waits behind b
    await Promise.resolve();
    expect(order).toEqual([]);
    a();
    (await b)();
    (await c)();
    expect(order).toEqual(["b", "c"]);
    expect(sem.inUse).toBe(0);
  });

  it("admits one holder larger than the capacity, alone; a cancelled waiter leaves the queue", async () => {
    const sem = new Semaphore(() => 2);
    const big = await sem.acquire(5, never);
    expect(sem.inUse).toBe(5);
    const controller = new AbortController();
    const cancelled = sem.acquire(1, controller.signal);
    const next = sem.acquire(1, never);
    controller.abort(new Error("cancelled"));
    await expect(cancelled).rejects.toThrow("cancelled");
    big();
    (await next)();
    expect(sem.inUse).toBe(0);
  });
});
