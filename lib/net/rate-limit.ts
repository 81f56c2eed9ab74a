import type { IncomingMessage } from "node:http";
import ipaddr from "ipaddr.js";
import type { Redis } from "ioredis";
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from "rate-limiter-flexible";
import { OrchestratorError, refusal, type ErrorAnswer } from "@/lib/engine/errors";

/** The environment, or a stand-in for it (tests). */
export type Env = Record<string, string | undefined>;

/**
 * Request rate limits: fixed windows of `points` requests per `durationS` seconds per key (a client address, a
 * workflow), counted with rate-limiter-flexible: in this process's memory, or in queue mode in Redis
 * (`redisLimiter`), so the limits hold across every web process behind a balancer.
 */

export interface RateLimitRule {
  points: number;
  durationS: number;
}

/** Whether a request may go on, or how long until the key has requests again. */
export type RateDecision = { ok: true } | { ok: false; retryAfterS: number };

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600 };

/**
 * A limit from the environment: `<count>/<duration>` (`600/1m`, `20/1s`, `5000/10s`; a bare duration number is
 * seconds), or `off`. Unset or empty gives `fallback`. Anything else is refused naming the variable, so a typo
 * does not silently open or close a limit.
 */
export function rateLimitFromEnv(name: string, fallback: RateLimitRule | null, env: Env = process.env): RateLimitRule | null {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  if (/^(off|0)$/i.test(raw)) return null;
  const match = /^(\d{1,9})\s*\/\s*(\d{1,6})\s*([smh]?)$/i.exec(raw);
  const points = match ? Number(match[1]) : NaN;
  const durationS = match ? Number(match[2]) * UNITS[(match[3] || "s").toLowerCase()] : NaN;
  if (!match || points < 1 || durationS < 1)
    throw new OrchestratorError(
      "INVALID_INPUT",
      `${name} must be <count>/<duration> (e.g. 600/1m, 20/1s; units s, m, h) or off, not "${raw}"; unset it for the default${fallback ? ` ${describeRule(fallback)}` : ""}`,
    );
  return { points, durationS };
}

export const describeRule = (rule: RateLimitRule) =>
  rule.durationS % 3600 === 0 ? `${rule.points}/${rule.durationS / 3600}h` : rule.durationS % 60 === 0 ? `${rule.points}/${rule.durationS / 60}m` : `${rule.points}/${rule.durationS}s`;

/**
 * A limit counted in Redis (queue mode: the queue's Redis), shared by every web process. While Redis does not
 * answer, each process counts in its own memory instead (the library's insurance limiter), so a Redis outage
 * neither opens the limits nor refuses everyone.
 */
export function redisLimiter(rule: RateLimitRule, client: Redis, keyPrefix: string): RateLimiterAbstract {
  return new RateLimiterRedis({
    storeClient: client,
    keyPrefix,
    points: rule.points,
    duration: rule.durationS,
    rejectIfRedisNotReady: true,
    insuranceLimiter: new RateLimiterMemory({ points: rule.points, duration: rule.durationS }),
  });
}

/** One named limit; `take` counts a request against a key. A null rule lets everything through. */
export class RateLimit {
  private readonly limiter: RateLimiterAbstract | null;

  constructor(
    /** What is limited, for the refusal: "webhook calls of this workflow", "requests from this address". */
    readonly what: string,
    readonly rule: RateLimitRule | null,
    limiter?: RateLimiterAbstract,
  ) {
    this.limiter = limiter ?? (rule ? new RateLimiterMemory({ points: rule.points, duration: rule.durationS }) : null);
  }

  async take(key: string): Promise<RateDecision> {
    if (!this.limiter) return { ok: true };
    try {
      await this.limiter.consume(key);
      return { ok: true };
    } catch (err) {
      if (err instanceof RateLimiterRes) return { ok: false, retryAfterS: Math.max(1, Math.ceil(err.msBeforeNext / 1000)) };
      throw err; // a store failure (Redis down) is not a refusal
    }
  }

  /** The 429 answer (code RATE_LIMITED) and its Retry-After header. */
  refusal(retryAfterS: number): ErrorAnswer & { headers: Record<string, string> } {
    const rule = this.rule ? ` (at most ${describeRule(this.rule)})` : "";
    return {
      ...refusal("RATE_LIMITED", `too many ${this.what}${rule}: try again in ${retryAfterS} s`),
      headers: { "retry-after": String(retryAfterS) },
    };
  }
}

export const TRUST_PROXY_ENV = "ORCHESTRATOR_TRUST_PROXY";

/**
 * How many reverse proxies in front of the server append to X-Forwarded-For (env ORCHESTRATOR_TRUST_PROXY,
 * default 0: the connection's own address is the client). Without a proxy the header is the client's word and
 * would let it pick any key.
 */
export function trustedProxyHops(env: Env = process.env): number {
  const raw = env[TRUST_PROXY_ENV]?.trim();
  if (!raw) return 0;
  const n = Number(raw);
  if (!/^\d{1,2}$/.test(raw))
    throw new OrchestratorError("INVALID_INPUT", `${TRUST_PROXY_ENV} must be the number of reverse proxies in front of the server (0–99), not "${raw}"`);
  return n;
}

/**
 * The key a client's requests are counted under: its address (the one the nearest trusted proxy saw when
 * `hops` proxies are in front). An IPv6 client is counted by its /64, which one host usually holds whole.
 */
export function clientKey(req: Pick<IncomingMessage, "headers" | "socket">, hops = 0): string {
  let address = req.socket.remoteAddress ?? "";
  if (hops > 0) {
    const header = req.headers["x-forwarded-for"];
    const chain = (Array.isArray(header) ? header.join(",") : (header ?? "")).split(",").map((s) => s.trim()).filter(Boolean);
    // Each proxy appends the address it received from: the entry `hops` from the end is the client's.
    if (chain.length >= hops) address = chain[chain.length - hops];
  }
  try {
    let parsed = ipaddr.parse(address);
    if (parsed.kind() === "ipv6" && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) parsed = (parsed as ipaddr.IPv6).toIPv4Address();
    if (parsed.kind() === "ipv4") return parsed.toString();
    return `${(parsed as ipaddr.IPv6).parts.slice(0, 4).map((p) => p.toString(16)).join(":")}::/64`;
  } catch {
    return address.slice(0, 100) || "unknown";
  }
}
