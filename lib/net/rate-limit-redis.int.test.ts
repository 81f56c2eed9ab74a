import { createServer, request as httpRequest, type Server } from "node:http";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRequestGuard, type RateLimitStore } from "./http-guard";

/**
 * Queue mode's rate limits: counted in Redis, so two web processes (two real HTTP servers, each with the guard
 * server.ts puts in front of everything) share one limit; beside them, the memory store, where each counts its own.
 * Redis 127.0.0.1:6379 db 12 (keys under a prefix of this test's own, deleted after); skipped, saying why, when
 * Redis is unreachable.
 */
const REDIS_URL = process.env.RATE_TEST_REDIS_URL ?? "redis://127.0.0.1:6379/12";
const PREFIX = `rt-rate-${Math.random().toString(36).slice(2, 10)}`;

let redis: Redis;
const problem = await (async () => {
  const probe = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1500 });
  try {
    await probe.connect();
    return null;
  } catch (err) {
    return `Redis at ${REDIS_URL} is not reachable (${(err as Error).message})`;
  } finally {
    probe.disconnect();
  }
})();
if (problem) console.warn(`${problem}: the Redis rate-limit tests are skipped.`);

const servers: Server[] = [];
const ENV = { ORCHESTRATOR_RATE_LIMIT_API: "4/30s" };

/** A web process's front: the guard, then an answer saying it was reached. */
async function webProcess(store?: RateLimitStore): Promise<number> {
  const guard = createRequestGuard(ENV, store);
  const server = createServer((req, res) => {
    const go = () => res.writeHead(200).end("ok");
    const allowed = guard.check(req, res);
    if (allowed === true) go();
    else if (allowed !== false) void allowed.then((ok) => ok && go());
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as { port: number }).port;
}

function get(port: number) {
  return new Promise<{ status: number; retryAfter?: string }>((resolve, reject) => {
    const req = httpRequest({ host: "127.0.0.1", port, path: "/api/health", headers: { host: "localhost" } }, (res) => {
      res.resume();
      res.on("end", () => resolve({ status: res.statusCode!, retryAfter: res.headers["retry-after"] as string | undefined }));
    });
    req.on("error", reject);
    req.end();
  });
}
const statuses = async (ports: number[]) => {
  const out: number[] = [];
  for (const port of ports) out.push((await get(port)).status);
  return out;
};

beforeAll(async () => {
  if (problem) return;
  redis = new Redis(REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 0 });
  await new Promise<void>((resolve) => redis.once("ready", () => resolve()));
});
afterAll(async () => {
  for (const server of servers) server.close();
  if (redis) {
    const keys = await redis.keys(`${PREFIX}:*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  }
});

describe.skipIf(Boolean(problem))("rate limits in queue mode (Redis store)", () => {
  it("two web processes share one API limit; with the memory store each would count its own", async () => {
    const store = { redis, prefix: PREFIX };
    const [a, b] = [await webProcess(store), await webProcess(store)];
    // 4 per 30 s in all: alternating between the two processes, the 5th and 6th are refused wherever they land.
    expect(await statuses([a, b, a, b, a, b])).toEqual([200, 200, 200, 200, 429, 429]);
    const refused = await get(a);
    expect(refused.status).toBe(429);
    expect(Number(refused.retryAfter)).toBeGreaterThan(0);
    expect(await redis.keys(`${PREFIX}:rate:api:*`)).toHaveLength(1);

    const [m1, m2] = [await webProcess(), await webProcess()];
    expect(await statuses([m1, m2, m1, m2, m1, m2])).toEqual([200, 200, 200, 200, 200, 200]);
  });

  it("Redis unreachable: each process counts in its own memory instead (neither open nor refusing everyone)", async () => {
    const down = new Redis("redis://127.0.0.1:1", { enableOfflineQueue: false, maxRetriesPerRequest: 0, lazyConnect: true });
    down.on("error", () => {});
    const port = await webProcess({ redis: down, prefix: PREFIX });
    expect(await statuses([port, port, port, port, port])).toEqual([200, 200, 200, 200, 429]);
    down.disconnect();
  });
});
