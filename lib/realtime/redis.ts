import { RedisAdapter } from "@socket.io/redis-adapter";
import { Emitter } from "@socket.io/redis-emitter";
import { Redis } from "ioredis";
import type { Namespace } from "socket.io";
import { logger } from "@/lib/logger";
import type { RunEvent, TokenEvent } from "@/lib/runner/event-types";
import type { RunPublisher } from "@/lib/runner/events";
import { runRoom } from "./events";

/**
 * Queue mode's live path: workers publish run events and tokens with the Socket.IO Redis emitter into the run's
 * room; every web process's Socket.IO server has the Redis adapter, which hands those to the realtime server's
 * ordering gate (lib/realtime/server.ts) instead of broadcasting them blindly. Redis pub/sub channels are not
 * per database index, so the key carries the queue prefix (several installs can share one Redis).
 */
export const realtimeKey = (queuePrefix: string) => `${queuePrefix}:socket.io`;

/** Run traffic from other processes, taken in by the realtime server. */
export interface RunTraffic {
  event(event: RunEvent): void;
  token(event: TokenEvent): void;
}

/**
 * Logs one line when Redis stops taking publications and one when it takes them again, not one per event: a
 * run streams tens of tokens a second, and an outage is one fact.
 */
function outageLog(what: string) {
  let down = false;
  return {
    failed(err: unknown) {
      if (down) return;
      down = true;
      logger.warn({ err }, `${what}: Redis does not take publications; runs go on and the event log keeps every event (viewers catch up from it)`);
    },
    ok() {
      if (!down) return;
      down = false;
      logger.info(`${what}: Redis takes publications again`);
    },
  };
}

/**
 * A worker's publisher: each stored event and each token goes to the run's room through Redis. Never throws and
 * never queues while Redis is away (no offline queue: a publication fails at once instead of piling up in memory);
 * the event log holds the events, and a step's whole text is in its output.
 */
export function redisRunPublisher(redisUrl: string, key: string): RunPublisher & { close(): void } {
  const connection = new Redis(redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 0, connectionName: `${key}:emitter` });
  connection.on("error", (err) => logger.debug({ err }, "redis (live events publisher)"));
  const outage = outageLog("live events publisher");
  // The emitter calls publish() and drops its promise: a failure must not become an unhandled rejection.
  const client = {
    publish: (channel: string, message: Buffer | string) =>
      connection.publish(channel, message).then(
        (n) => {
          outage.ok();
          return n;
        },
        (err: unknown) => {
          outage.failed(err);
          return 0;
        },
      ),
  };
  const emitter = new Emitter(client, { key });
  const send = (name: "run:event" | "run:token", runId: string, payload: RunEvent | TokenEvent) => {
    try {
      emitter.to(runRoom(runId)).emit(name, payload);
    } catch (err) {
      outage.failed(err);
    }
  };
  return {
    publish: (event) => send("run:event", event.runId, event),
    publishToken: (event) => send("run:token", event.runId, event),
    close: () => connection.disconnect(),
  };
}

type AdapterInternals = {
  readonly uid: string;
  readonly parser: { decode(message: unknown): unknown };
  onmessage(pattern: unknown, channel: unknown, message: unknown): void;
};
// onmessage is private in the adapter's typings; it is the one method the subscription calls (bound in its
// constructor, so an override here is what runs).
const AdapterBase = RedisAdapter as unknown as new (nsp: Namespace, pub: Redis, sub: Redis, opts: { key: string }) => AdapterInternals;

const isRunTraffic = (value: unknown): value is { runId: string } => typeof (value as { runId?: unknown } | null)?.runId === "string";

/**
 * The web process's Socket.IO adapter: the Redis adapter, except that run events and tokens (from workers' emitters
 * and peer web processes) go to `traffic`, which delivers them to local sockets in seq order (and derives what
 * view-only watchers may see); everything else is broadcast as the adapter does.
 */
export function runRoomsAdapter(redisUrl: string, key: string, traffic: RunTraffic) {
  const pub = new Redis(redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 0, connectionName: `${key}:adapter-pub` });
  const sub = new Redis(redisUrl, { connectionName: `${key}:adapter-sub` });
  pub.on("error", (err) => logger.debug({ err }, "redis (realtime adapter)"));
  sub.on("error", (err) => logger.debug({ err }, "redis (realtime adapter subscription)"));
  const outage = outageLog("realtime adapter");
  // The adapter drops publish()'s promise too: with Redis away that would be an unhandled rejection.
  const safePub = new Proxy(pub, {
    get(target, prop) {
      if (prop === "publish")
        return (channel: string, message: Buffer | string) =>
          target.publish(channel, message).then(
            (n) => (outage.ok(), n),
            (err: unknown) => (outage.failed(err), 0),
          );
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });

  class RunRoomsAdapter extends AdapterBase {
    override onmessage(pattern: unknown, channel: unknown, message: unknown) {
      let decoded: unknown;
      try {
        decoded = this.parser.decode(message);
      } catch {
        return; // not a Socket.IO message
      }
      const [uid, packet] = (Array.isArray(decoded) ? decoded : []) as [unknown, { data?: unknown[] } | undefined];
      const [name, payload] = Array.isArray(packet?.data) ? packet.data : [];
      if (uid !== this.uid && isRunTraffic(payload)) {
        if (name === "run:event") return traffic.event(payload as RunEvent);
        if (name === "run:token") return traffic.token(payload as TokenEvent);
      }
      super.onmessage(pattern, channel, message);
    }
  }

  return {
    // Socket.IO calls it with `new` (a function returning an object, as the adapter's own createAdapter).
    adapter: function (nsp: Namespace) {
      return new RunRoomsAdapter(nsp, safePub, sub, { key });
    },
    close() {
      pub.disconnect();
      sub.disconnect();
    },
  };
}
