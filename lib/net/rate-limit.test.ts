import { describe, expect, it } from "vitest";
import { clientKey, RateLimit, rateLimitFromEnv, trustedProxyHops } from "./rate-limit";

describe("rate limits", () => {
  it("reads <count>/<duration> and off from the environment; anything else is refused naming the variable", () => {
    const read = (value: string | undefined) => rateLimitFromEnv("X_LIMIT", { points: 5, durationS: 60 }, { X_LIMIT: value });
    expect(read(undefined)).toEqual({ points: 5, durationS: 60 });
    expect(read("600/1m")).toEqual({ points: 600, durationS: 60 });
    expect(read("20 / 1s")).toEqual({ points: 20, durationS: 1 });
    expect(read("100/2h")).toEqual({ points: 100, durationS: 7200 });
    expect(read("7/30")).toEqual({ points: 7, durationS: 30 });
    expect(read("off")).toBeNull();
    for (const bad of ["600", "0/1m", "1/0s", "ten/1m", "5/1d", "-1/1s"])
      expect(() => read(bad), bad).toThrow(/X_LIMIT must be <count>\/<duration> .* unset it for the default 5\/1m/);
  });

  it("counts per key, refuses past the limit with the wait, and a null rule never refuses", async () => {
    const limit = new RateLimit("things", { points: 2, durationS: 60 });
    expect(await limit.take("a")).toEqual({ ok: true });
    expect(await limit.take("a")).toEqual({ ok: true });
    const refused = await limit.take("a");
    expect(refused.ok).toBe(false);
    expect(!refused.ok && refused.retryAfterS).toBeGreaterThan(55);
    expect(await limit.take("b")).toEqual({ ok: true });
    const answer = limit.refusal(60);
    expect(answer).toEqual({ status: 429, body: { error: { code: "RATE_LIMITED", message: "too many things (at most 2/1m): try again in 60 s" } }, headers: { "retry-after": "60" } });
    const open = new RateLimit("things", null);
    for (let i = 0; i < 100; i++) expect((await open.take("a")).ok).toBe(true);
  });

  it("keys clients by address: IPv4-mapped as IPv4, IPv6 by /64, X-Forwarded-For only through trusted proxies", () => {
    const req = (remoteAddress: string, xff?: string) => ({ socket: { remoteAddress }, headers: xff ? { "x-forwarded-for": xff } : {} }) as never;
    expect(clientKey(req("::ffff:10.0.0.1"))).toBe("10.0.0.1");
    expect(clientKey(req("2001:db8:1:2:3:4:5:6"))).toBe(clientKey(req("2001:db8:1:2:ffff::1")));
    expect(clientKey(req("127.0.0.1", "6.6.6.6"))).toBe("127.0.0.1"); // not trusted: the header is the client's word
    expect(clientKey(req("127.0.0.1", "6.6.6.6, 1.2.3.4"), 1)).toBe("1.2.3.4");
    expect(clientKey(req("127.0.0.1", "6.6.6.6, 1.2.3.4"), 2)).toBe("6.6.6.6");
    expect(trustedProxyHops({})).toBe(0);
    expect(() => trustedProxyHops({ ORCHESTRATOR_TRUST_PROXY: "yes" })).toThrow(/ORCHESTRATOR_TRUST_PROXY must be the number of reverse proxies/);
  });
});
