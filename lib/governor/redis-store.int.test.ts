import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Governor } from "./governor";
import type { LineLimits } from "./limits";
import { RedisGovernorStore } from "./redis-store";

/**
 * The Redis store against the real Redis (127.0.0.1:6379, db GOVERNOR_TEST_REDIS_DB, default 14; keys under a
 * prefix of their own, deleted afterwards). Skips, saying why, when Redis is unreachable.
 */
const REDIS_URL = `redis://127.0.0.1:6379/${Number(process.env.GOVERNOR_TEST_REDIS_DB ?? 14)}`;

async function redisProblem(): Promise<string | null> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1500 });
  try {
    await redis.connect();
    await redis.ping();
    return null;
  } catch (err) {
    return `Redis at ${REDIS_URL} is not reachable (${(err as Error).message})`;
  } finally {
    redis.disconnect();
  }
}

const problem = await redisProblem();
if (problem) console.warn(`${problem}: the Redis governor tests are skipped.`);

describe.skipIf(Boolean(problem))("Redis governor store", () => {
  const prefix = `gov:test:${Math.random().toString(36).slice(2, 10)}`;
  let a: Redis;
  let b: Redis;
  // Two connections stand for two workers.
  let storeA: RedisGovernorStore;
  let storeB: RedisGovernorStore;
  let n = 0;
  const line = (limits: Partial<LineLimits>): LineLimits => ({ key: `model:m${++n}`, label: "m", ...limits });

  beforeAll(() => {
    a = new Redis(REDIS_URL);
    b = new Redis(REDIS_URL);
    storeA = new RedisGovernorStore(a, prefix);
    storeB = new RedisGovernorStore(b, prefix);
  });
  afterAll(async () => {
    const keys = await a.keys(`${prefix}:*`);
    if (keys.length) await a.del(...keys);
    a.disconnect();
    b.disconnect();
  });

  it("two workers share one pacing: reservations line up across them", async () => {
    const l = [line({ rpm: 60 })];
    const waits = [];
    for (let i = 0; i < 4; i++) waits.push((await (i % 2 ? storeB : storeA).reserve(l, 0)).waitMs);
    expect(waits[0]).toBe(0);
    // Redis's clock moves between calls: each start is one second after the one before, give or take those ms.
    for (let i = 1; i < 4; i++) expect(Math.abs(waits[i] - i * 1000)).toBeLessThan(100);
  });

  it("token pacing, settle and refund", async () => {
    const l = [line({ tpm: 6000 })];
    await storeA.reserve(l, 500);
    const second = await storeB.reserve(l, 500);
    expect(second.waitMs).toBeGreaterThan(4900);
    await storeA.refund(second);
    await storeA.settle(l, -300); // the first call used 200 of its 500
    const third = await storeB.reserve(l, 100);
    expect(third.waitMs).toBeGreaterThan(1900);
    expect(third.waitMs).toBeLessThanOrEqual(2000);
    expect(third.blockedBy).toEqual({ key: l[0].key, reason: "tokens" });
  });

  it("a pause set by one worker holds the other's calls", async () => {
    const l = [line({})];
    await storeA.pause(l[0].key, 3000);
    const paused = await storeB.pausedFor(l);
    expect(paused.key).toBe(l[0].key);
    expect(paused.ms).toBeGreaterThan(2900);
    const reservation = await storeB.reserve(l, 10);
    expect(reservation.blockedBy).toEqual({ key: l[0].key, reason: "paused" });
    expect(reservation.waitMs).toBeGreaterThan(2900);
  });

  it("concurrency slots are shared, and a dead holder's lease runs out", async () => {
    const l = [line({ maxConcurrent: 2 })];
    expect(await storeA.takeSlots(l, "x")).toEqual({ ok: true });
    expect(await storeB.takeSlots(l, "y")).toEqual({ ok: true });
    expect(await storeB.takeSlots(l, "z")).toEqual({ ok: false, key: l[0].key });
    await storeA.releaseSlots(l, "x");
    expect(await storeB.takeSlots(l, "z")).toEqual({ ok: true });
    // A lease that expired (its holder died without releasing) no longer counts.
    await a.zadd(`${prefix}:slots:${l[0].key}`, 1, "y");
    expect(await storeA.takeSlots(l, "w")).toEqual({ ok: true });
  });

  it("governors in two 'workers' hold a concurrency limit together", async () => {
    const l = [line({ maxConcurrent: 3 })];
    const governors = [new Governor(storeA), new Governor(storeB)];
    let inFlight = 0;
    let peak = 0;
    await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        const permit = await governors[i % 2].acquire({ lines: l, estimatedTokens: 0, signal: new AbortController().signal });
        peak = Math.max(peak, ++inFlight);
        await new Promise((r) => setTimeout(r, 60));
        inFlight--;
        await permit.release();
      }),
    );
    expect(peak).toBe(3);
  });
});
