import type { IncomingMessage, ServerResponse } from "node:http";
import { refusal, type ErrorAnswer } from "@/lib/engine/errors";
import { parseHookPath } from "@/lib/webhooks/http";
import { ALLOWED_HOSTS_ENV, allowedHosts, hostRefusalMessage, isAllowedHost, isAllowedOrigin, type HostEntry } from "./allowed-hosts";
import type { Redis } from "ioredis";
import { clientKey, RateLimit, rateLimitFromEnv, redisLimiter, trustedProxyHops, type Env, type RateLimitRule } from "./rate-limit";

/**
 * What server.ts checks before anything else answers a request (Next, the webhook fast path): the `Host` is one
 * this server answers to (else 421), and the request is within its rate limits (else 429 with Retry-After).
 * Pages and static files are not rate limited; `/api/*` and server-action calls are, per client address, and
 * webhook triggers per client and per workflow.
 */

/** The limits, their environment variables and defaults (generous: a flood guard, not a quota). */
export const RATE_LIMITS = {
  /** Webhook triggers of one workflow, whoever sends them. */
  hookWorkflow: { env: "ORCHESTRATOR_RATE_LIMIT_HOOK_WORKFLOW", fallback: { points: 60_000, durationS: 60 }, what: "webhook calls for this workflow" },
  /** Webhook triggers from one client address, whatever the workflow. */
  hookClient: { env: "ORCHESTRATOR_RATE_LIMIT_HOOK_CLIENT", fallback: { points: 60_000, durationS: 60 }, what: "webhook calls from this address" },
  /** Other `/api/*` requests (wait_webhook callbacks) from one client address. */
  api: { env: "ORCHESTRATOR_RATE_LIMIT_API", fallback: { points: 1200, durationS: 60 }, what: "API requests from this address" },
  /** Server-action calls (every save, run, decision… of the pages) from one client address. */
  actions: { env: "ORCHESTRATOR_RATE_LIMIT_ACTIONS", fallback: { points: 1200, durationS: 60 }, what: "actions from this address" },
} satisfies Record<string, { env: string; fallback: RateLimitRule; what: string }>;

export type RateLimits = Record<keyof typeof RATE_LIMITS, RateLimit>;

/** Where limits are counted: this process's memory (default), or Redis shared by every web process (queue mode). */
export interface RateLimitStore {
  redis: Redis;
  /** Prefix of the counters' keys (the queue prefix: several installs can share one Redis). */
  prefix: string;
}

/** The limits as the environment sets them; a malformed value throws naming its variable (at server start). */
export function rateLimitsFromEnv(env: Env = process.env, store?: RateLimitStore): RateLimits {
  const entries = Object.entries(RATE_LIMITS).map(([name, spec]) => {
    const rule = rateLimitFromEnv(spec.env, spec.fallback, env);
    return [name, new RateLimit(spec.what, rule, rule && store ? redisLimiter(rule, store.redis, `${store.prefix}:rate:${name}`) : undefined)];
  });
  return Object.fromEntries(entries) as RateLimits;
}

/** Headers every answer written outside Next carries (Next's own answers get them from next.config.ts). */
export const BASE_SECURITY_HEADERS: Record<string, string> = {
  "x-content-type-options": "nosniff",
  "referrer-policy": "same-origin",
  "x-frame-options": "DENY",
};

export function sendAnswer(res: ServerResponse, { status, body }: ErrorAnswer, headers: Record<string, string> = {}) {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { ...BASE_SECURITY_HEADERS, ...headers, "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

export interface RequestGuard {
  hosts: HostEntry[];
  limits: RateLimits;
  /** true: the request goes on; false: it was answered (421 or 429). Synchronous unless a limit applies. */
  check(req: IncomingMessage, res: ServerResponse): boolean | Promise<boolean>;
  /** The key a client's requests are counted under (its address; see `clientKey`). */
  clientKey(req: IncomingMessage): string;
  /** Socket.IO's `allowRequest`: the handshake's Host and, from a browser, its Origin. */
  allowRealtime(req: IncomingMessage, callback: (err: string | null | undefined, success: boolean) => void): void;
}

/** Reads the environment once (at server start, so a bad setting stops the start with its name). */
export function createRequestGuard(env: Env = process.env, store?: RateLimitStore): RequestGuard {
  const hosts = allowedHosts(env);
  const limits = rateLimitsFromEnv(env, store);
  const hops = trustedProxyHops(env);

  /** The limits a request counts against, in order (client before workflow: a refused client costs no workflow points). */
  const limitsOf = (req: IncomingMessage): Array<[RateLimit, string]> => {
    const url = req.url ?? "/";
    if (url.startsWith("/api/")) {
      const client = clientKey(req, hops);
      const hook = req.method === "POST" && url.startsWith("/api/hooks/") ? parseHookPath(url.split("?")[0]) : undefined;
      return hook ? [[limits.hookClient, client], [limits.hookWorkflow, hook.workflowId]] : [[limits.api, client]];
    }
    if (req.method === "POST" && req.headers["next-action"] !== undefined) return [[limits.actions, clientKey(req, hops)]];
    return [];
  };

  const check = (req: IncomingMessage, res: ServerResponse): boolean | Promise<boolean> => {
    if (!isAllowedHost(req.headers.host, hosts)) {
      sendAnswer(res, refusal("HOST_NOT_ALLOWED", hostRefusalMessage(req.headers.host)));
      return false;
    }
    const applying = limitsOf(req);
    if (!applying.length) return true;
    return (async () => {
      for (const [limit, key] of applying) {
        const decision = await limit.take(key);
        if (!decision.ok) {
          const answer = limit.refusal(decision.retryAfterS);
          sendAnswer(res, answer, answer.headers);
          return false;
        }
      }
      return true;
    })();
  };

  return { hosts, limits, check, clientKey: (req) => clientKey(req, hops), allowRealtime: realtimeHandshakeCheck(hosts) };
}

/**
 * Socket.IO's `allowRequest`: the handshake's `Host` must be one this server answers to, and a browser's
 * `Origin` a page of such a host (http or https). Browsers send Origin on every WebSocket and cross-origin
 * request, so a page elsewhere cannot follow runs here.
 */
export function realtimeHandshakeCheck(hosts: HostEntry[] = allowedHosts()): RequestGuard["allowRealtime"] {
  return (req, callback) => {
    if (!isAllowedHost(req.headers.host, hosts)) return callback(hostRefusalMessage(req.headers.host), false);
    const origin = req.headers.origin;
    if (origin !== undefined && !isAllowedOrigin(origin, hosts))
      return callback(`pages of "${origin.slice(0, 100)}" may not connect: only pages served from this server's own hosts may (${ALLOWED_HOSTS_ENV})`, false);
    // No Origin: not a browser (the CLI, a script). Who it is (session cookie or API token) is checked next, when it
    // connects (the middleware in lib/realtime/server.ts).
    callback(null, true);
  };
}
