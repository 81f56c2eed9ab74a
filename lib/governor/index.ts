import { Redis } from "ioredis";
import { logger } from "@/lib/logger";
import { executionMode, queueConfig } from "@/lib/queue/config";
import { Governor } from "./governor";
import { MemoryGovernorStore } from "./memory-store";
import { RedisGovernorStore } from "./redis-store";
import { ResilientGovernorStore } from "./resilient-store";

/**
 * The governor of this process: in memory in one-process mode; in queue mode on Redis (REDIS_URL, keys under
 * `<ORCHESTRATOR_QUEUE_PREFIX>:gov:`), so the limits hold across every worker. One per process, on globalThis:
 * server.ts and the Next bundle each load this module, and both must wait in the same lines.
 */
const KEY = Symbol.for("llm-orchestrator.governor");
type Holder = { [KEY]?: Governor };

export function processGovernor(): Governor {
  const holder = globalThis as Holder;
  if (holder[KEY]) return holder[KEY];
  let governor: Governor;
  if (executionMode() === "queue") {
    const config = queueConfig();
    const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: 1, connectionName: `${config.prefix}:governor` });
    redis.on("error", (err) => logger.debug({ err }, "redis (governor)"));
    // Redis away (restarting): each process counts its own calls until it answers, rather than failing them.
    governor = new Governor(new ResilientGovernorStore(new RedisGovernorStore(redis, `${config.prefix}:gov`, true)));
  } else {
    governor = new Governor(new MemoryGovernorStore());
  }
  return (holder[KEY] = governor);
}

/** Closes the process's governor (its Redis connection); the next use makes a new one. */
export async function closeProcessGovernor() {
  const holder = globalThis as Holder;
  const governor = holder[KEY];
  delete holder[KEY];
  await governor?.store.close?.();
}
