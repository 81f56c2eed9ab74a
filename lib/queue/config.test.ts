import { afterEach, describe, expect, it } from "vitest";
import { executionMode, queueConfig } from "./config";

const NAMES = ["EXECUTION_MODE", "DATABASE_URL", "REDIS_URL", "WORKER_CONCURRENCY", "ORCHESTRATOR_QUEUE_PREFIX", "ORCHESTRATOR_RECONCILE_MS"];
const saved = Object.fromEntries(NAMES.map((name) => [name, process.env[name]]));
afterEach(() => {
  for (const name of NAMES) {
    if (saved[name] === undefined) delete process.env[name];
    else process.env[name] = saved[name];
  }
});

describe("queue mode's environment contract", () => {
  it("EXECUTION_MODE is inline by default, queue on request, and anything else is refused naming the variable", () => {
    delete process.env.EXECUTION_MODE;
    expect(executionMode()).toBe("inline");
    process.env.EXECUTION_MODE = "queue";
    expect(executionMode()).toBe("queue");
    process.env.EXECUTION_MODE = "cluster";
    expect(() => executionMode()).toThrow(/EXECUTION_MODE must be "inline" .* or "queue" .*, not "cluster"/);
  });

  it("queue mode needs Postgres and a redis:// URL; WORKER_CONCURRENCY defaults to 10 and is bounded", () => {
    process.env.DATABASE_URL = "file:/tmp/x.db";
    process.env.REDIS_URL = "redis://127.0.0.1:6379";
    expect(() => queueConfig()).toThrow(/needs Postgres: set DATABASE_URL=postgresql:/);
    process.env.DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test";
    process.env.REDIS_URL = "http://127.0.0.1:6379";
    expect(() => queueConfig()).toThrow(/needs Redis: set REDIS_URL=redis:\/\/host:6379 \(not "http:\/\/127.0.0.1:6379"\)/);
    process.env.REDIS_URL = "redis://127.0.0.1:6379/3";
    delete process.env.WORKER_CONCURRENCY;
    expect(queueConfig()).toMatchObject({ redisUrl: "redis://127.0.0.1:6379/3", prefix: "orchestrator", concurrency: 10, reconcileMs: 30_000 });
    for (const bad of ["0", "-1", "2.5", "ten", "1001", "9".repeat(400)]) {
      process.env.WORKER_CONCURRENCY = bad;
      expect(() => queueConfig()).toThrow(/WORKER_CONCURRENCY must be a whole number from 1 to 1000/);
    }
    process.env.WORKER_CONCURRENCY = "32";
    process.env.ORCHESTRATOR_QUEUE_PREFIX = "bad prefix {x}";
    expect(() => queueConfig()).toThrow(/ORCHESTRATOR_QUEUE_PREFIX may hold/);
    process.env.ORCHESTRATOR_QUEUE_PREFIX = "x".repeat(101);
    expect(() => queueConfig()).toThrow(/ORCHESTRATOR_QUEUE_PREFIX may hold/);
  });
});
