import { describe, expect, it } from "vitest";
import { Governor, type WaitInfo } from "./governor";
import { estimateTokens, linesFor, parseRetryAfter, ModelLimitsSchema, type LineLimits } from "./limits";
import { MemoryGovernorStore } from "./memory-store";

/** A store whose clock the test moves (pacing arithmetic without sleeping). */
function clockedStore() {
  let now = 1_000_000;
  const store = new MemoryGovernorStore(() => now);
  return { store, advance: (ms: number) => void (now += ms) };
}

const line = (limits: Partial<LineLimits>): LineLimits => ({ key: "model:m", label: 'model "m"', ...limits });

describe("memory store pacing (GCRA without burst)", () => {
  it("spaces requests evenly: 60 RPM admits one call a second, in order of reservation", async () => {
    const { store } = clockedStore();
    const l = [line({ rpm: 60 })];
    const waits = [];
    for (let i = 0; i < 5; i++) waits.push((await store.reserve(l, 0)).waitMs);
    expect(waits).toEqual([0, 1000, 2000, 3000, 4000]);
  });

  it("never lets more than the limit into any window, at any arrival pattern", async () => {
    const { store, advance } = clockedStore();
    const l = [line({ rpm: 120 })];
    const starts: number[] = [];
    let t = 0;
    for (let i = 0; i < 400; i++) {
      const gap = (i * 7919) % 1300; // irregular arrivals, bursts and gaps
      advance(gap);
      t += gap;
      starts.push(t + (await store.reserve(l, 0)).waitMs);
    }
    starts.sort((a, b) => a - b);
    for (let i = 120; i < starts.length; i++) expect(starts[i] - starts[i - 120]).toBeGreaterThanOrEqual(60_000);
  });

  it("paces tokens by the estimate and corrects by the reported usage", async () => {
    const { store } = clockedStore();
    const l = [line({ tpm: 6000 })]; // 100 tokens a second
    expect((await store.reserve(l, 500)).waitMs).toBe(0);
    expect((await store.reserve(l, 500)).waitMs).toBe(5000);
    await store.settle(l, -400); // the second call used 100, not 500
    expect((await store.reserve(l, 100)).waitMs).toBe(6000);
  });

  it("a call larger than the token limit waits at most a minute's worth", async () => {
    const { store } = clockedStore();
    const l = [line({ tpm: 1000 })];
    await store.reserve(l, 50_000);
    expect((await store.reserve(l, 1)).waitMs).toBe(60_000);
  });

  it("a refund gives back a reservation nobody lined up behind", async () => {
    const { store } = clockedStore();
    const l = [line({ rpm: 60 })];
    await store.reserve(l, 0);
    const second = await store.reserve(l, 0);
    await store.refund(second);
    expect((await store.reserve(l, 0)).waitMs).toBe(1000);
  });

  it("a pause holds every call on the line until it ends; the gateway line applies too", async () => {
    const { store, advance } = clockedStore();
    const lines = linesFor([{ kind: "gateway", match: "http://gw/v1/", rpm: 60 }], "m", "http://gw/v1");
    expect(lines.map((l) => l.key)).toEqual(["model:m", "gateway:http://gw/v1"]);
    await store.pause("model:m", 2500);
    const first = await store.reserve(lines, 0);
    expect(first).toMatchObject({ waitMs: 2500, blockedBy: { key: "model:m", reason: "paused" } });
    expect((await store.reserve(lines, 0)).blockedBy).toEqual({ key: "gateway:http://gw/v1", reason: "requests" });
    advance(2500);
    expect(await store.pausedFor(lines)).toEqual({ ms: 0 });
  });

  it("concurrency slots are all or nothing over the lines", async () => {
    const { store } = clockedStore();
    const lines = [line({ maxConcurrent: 1 }), { key: "gateway:g", label: "gateway g", maxConcurrent: 2 }];
    expect(await store.takeSlots(lines, "a")).toEqual({ ok: true });
    expect(await store.takeSlots(lines, "b")).toEqual({ ok: false, key: "model:m" });
    expect(await store.takeSlots([lines[1]], "c")).toEqual({ ok: true });
    await store.releaseSlots(lines, "a");
    expect(await store.takeSlots(lines, "b")).toEqual({ ok: true });
    expect(await store.takeSlots([lines[1]], "d")).toEqual({ ok: false, key: "gateway:g" });
  });
});

describe("Governor", () => {
  it("holds concurrent calls to the limit, first come first served, and says why callers wait", async () => {
    const governor = new Governor(new MemoryGovernorStore());
    const lines = [line({ maxConcurrent: 2 })];
    let inFlight = 0;
    let peak = 0;
    const order: number[] = [];
    const waits: WaitInfo[] = [];
    await Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        const permit = await governor.acquire({ lines, estimatedTokens: 0, signal: new AbortController().signal, onWait: (w) => waits.push(w) });
        order.push(i);
        peak = Math.max(peak, ++inFlight);
        await new Promise((r) => setTimeout(r, 400));
        inFlight--;
        await permit.release();
      }),
    );
    expect(peak).toBe(2);
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    // The six that waited a slot's 400 ms or more were announced (waits under WAIT_EVENT_MIN_MS are not).
    expect(waits).toHaveLength(6);
    expect(waits[0]).toMatchObject({ key: "model:m", reason: "concurrency", label: 'model "m"' });
  });

  it("paces real calls at the rate and reports the wait", async () => {
    const governor = new Governor(new MemoryGovernorStore());
    const lines = [line({ rpm: 240 })]; // one every 250 ms
    const started: number[] = [];
    const waits: WaitInfo[] = [];
    const t0 = Date.now();
    await Promise.all(
      Array.from({ length: 5 }, async () => {
        const permit = await governor.acquire({ lines, estimatedTokens: 0, signal: new AbortController().signal, onWait: (w) => waits.push(w) });
        started.push(Date.now() - t0);
        await permit.release();
      }),
    );
    started.sort((a, b) => a - b);
    // Each starts no earlier than its place in line (timers fire late under load, never early).
    for (let i = 1; i < started.length; i++) expect(started[i]).toBeGreaterThanOrEqual(i * 250 - 5);
    expect(waits.map((w) => w.reason)).toEqual(["requests", "requests", "requests", "requests"]);
  });

  it("a cancelled waiter stops waiting at once and gives its place back", async () => {
    const governor = new Governor(new MemoryGovernorStore());
    const lines = [line({ rpm: 60 })];
    const first = await governor.acquire({ lines, estimatedTokens: 0, signal: new AbortController().signal });
    await first.release();
    const cancel = new AbortController();
    const waiting = governor.acquire({ lines, estimatedTokens: 0, signal: cancel.signal });
    setTimeout(() => cancel.abort(new Error("cancelled")), 50);
    const t0 = Date.now();
    await expect(waiting).rejects.toThrow("cancelled");
    expect(Date.now() - t0).toBeLessThan(500);
    // Its start (one second after the first) was given back: the next caller gets it, not the one after.
    const next = await governor.store.reserve(lines, 0);
    expect(next.waitMs).toBeGreaterThan(800);
    expect(next.waitMs).toBeLessThanOrEqual(1000);
  });

  it("a cancelled waiter for a concurrency slot leaves the line and the next one gets the slot", async () => {
    const governor = new Governor(new MemoryGovernorStore());
    const lines = [line({ maxConcurrent: 1 })];
    const holder = await governor.acquire({ lines, estimatedTokens: 0, signal: new AbortController().signal });
    const cancel = new AbortController();
    const cancelled = governor.acquire({ lines, estimatedTokens: 0, signal: cancel.signal });
    const next = governor.acquire({ lines, estimatedTokens: 0, signal: new AbortController().signal });
    cancel.abort(new Error("gone"));
    await expect(cancelled).rejects.toThrow("gone");
    await holder.release();
    const permit = await next;
    await permit.release();
  });

  it("a pause set while a call waits for its start makes it line up after the pause", async () => {
    const governor = new Governor(new MemoryGovernorStore());
    const lines = [line({ rpm: 200 })]; // 300 ms apart
    await (await governor.acquire({ lines, estimatedTokens: 0, signal: new AbortController().signal })).release();
    const waits: WaitInfo[] = [];
    const t0 = Date.now();
    const second = governor.acquire({ lines, estimatedTokens: 0, signal: new AbortController().signal, onWait: (w) => waits.push(w) });
    await governor.pause("model:m", 900);
    await (await second).release();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(890);
    expect(waits.map((w) => w.reason)).toEqual(["requests", "paused"]);
  });
});

describe("limits", () => {
  it("bounds every field and names the row", () => {
    const bad = ModelLimitsSchema.safeParse([{ kind: "model", match: "m", rpm: 0 }, { kind: "gateway", match: "not a url", tpm: 5 }, { kind: "model", match: "x" }]);
    expect(bad.success).toBe(false);
    const messages = bad.error!.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
    expect(messages).toContain("0.rpm: rpm must be at least 1 (leave it empty for no limit)");
    expect(messages.some((m) => m.startsWith("1.match: a gateway is matched by its base URL"))).toBe(true);
    expect(messages.some((m) => m.startsWith("2.rpm: set at least one of"))).toBe(true);
    expect(ModelLimitsSchema.safeParse([{ kind: "model", match: "m", rpm: 2_000_000 }]).error?.issues[0].message).toBe("rpm is at most 1,000,000");
  });

  it("reads Retry-After as seconds or an HTTP date", () => {
    expect(parseRetryAfter("3", 0)).toBe(3000);
    expect(parseRetryAfter("0.5", 0)).toBe(500);
    const now = Date.parse("2026-01-01T00:00:00Z");
    expect(parseRetryAfter("Thu, 01 Jan 2026 00:00:07 GMT", now)).toBe(7000);
    expect(parseRetryAfter("soon", now)).toBeUndefined();
    expect(parseRetryAfter(null)).toBeUndefined();
  });

  it("estimates about four characters a token", () => {
    expect(estimateTokens("")).toBe(0);
    expect(estimateTokens("abcdefgh")).toBe(2);
    expect(estimateTokens("abcdefghi")).toBe(3);
  });
});

describe("budget in the definition", async () => {
  const { validateWorkflow } = await import("@/lib/workflow/validate");
  const { checkBudget, monthStartUtc, worstCaseCostUsd } = await import("./budget");
  it("is optional, bounded, and named when wrong", () => {
    const steps = [{ id: "a", type: "transform", config: { output: 1 } }];
    expect(validateWorkflow({ id: "w", name: "w", steps }).issues).toEqual([]);
    expect(validateWorkflow({ id: "w", name: "w", steps, budget: { perRunUsd: 0.5, perMonthUsd: 20 } }).issues).toEqual([]);
    const bad = validateWorkflow({ id: "w", name: "w", steps, budget: { perRunUsd: -1, perMonthUsd: 1e9 } }).issues.map((i) => i.message).join("\n");
    expect(bad).toContain("budget.perRunUsd must be more than 0");
    expect(bad).toContain("budget.perMonthUsd is at most 1,000,000 dollars");
  });

  it("checks the worst case against the caps", () => {
    const prices = { m: { inputPerMillion: 1_000_000, outputPerMillion: 2_000_000 } };
    expect(worstCaseCostUsd(prices, "m", "abcdefgh", 3)).toBe(2 + 6); // 2 prompt tokens, 3 completion tokens
    expect(worstCaseCostUsd(prices, "unpriced", "abcdefgh", 3)).toBe(0);
    expect(() => checkBudget("s", { perRunUsd: 10 }, { model: "m", worstCaseUsd: 8 }, { run: 2 })).not.toThrow();
    expect(() => checkBudget("s", { perRunUsd: 10 }, { model: "m", worstCaseUsd: 8 }, { run: 2.01 })).toThrow(/BUDGET|budget of \$10.00/);
    expect(monthStartUtc(new Date("2026-03-31T23:59:59-05:00")).toISOString()).toBe("2026-04-01T00:00:00.000Z");
  });
});
