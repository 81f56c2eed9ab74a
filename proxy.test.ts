import { NextRequest } from "next/server";
import { describe, expect, it } from "vitest";
import { ACTION_NESTING_GATE, config, proxy } from "./proxy";

/**
 * The gate in front of React's server-action decoder, called as Next calls it. (That Next runs it before
 * decoding was checked against a running server: see ARCHITECTURE.md, "Nesting limit".)
 */
const nested = (levels: number) => `${"[".repeat(levels)}${"]".repeat(levels)}`;
const action = (body: BodyInit, contentType?: string) =>
  new NextRequest("http://127.0.0.1:3000/workflows/w1", {
    method: "POST",
    headers: { host: "127.0.0.1:3000", "next-action": "40abc", ...(contentType ? { "content-type": contentType } : {}) },
    body,
  });
const passes = (response: Response) => response.headers.get("x-middleware-next") === "1";

describe("server action nesting gate (proxy.ts)", () => {
  it("answers 400 naming the nesting limit for arguments nested 5,000 or 100,000 levels", async () => {
    for (const request of [
      action(`["w1",${nested(5000)}]`, "text/plain;charset=UTF-8"),
      action(`[${nested(100_000)}]`, "text/plain;charset=UTF-8"),
    ]) {
      const answer = await proxy(request);
      expect(answer.status).toBe(400);
      expect(await answer.json()).toEqual({
        error: { code: "INVALID_INPUT", message: `the server action's arguments are nested more than ${ACTION_NESTING_GATE} levels deep (the nesting limit, ORCHESTRATOR_MAX_JSON_DEPTH, is lower); flatten them` },
      });
    }
  });

  it("lets everything the action's own checks can name through: deeper than the limit but below the gate", async () => {
    expect(ACTION_NESTING_GATE).toBe(1004);
    expect(passes(await proxy(action(`[${nested(1000)}]`, "text/plain;charset=UTF-8")))).toBe(true);
    expect(passes(await proxy(action('[{"id":"w","name":"w","steps":[]}]', "text/plain;charset=UTF-8")))).toBe(true);
  });

  it("answers 400 for form bodies (parts React's decoder can fail on; no action here takes them), nested or not", async () => {
    const deep = new FormData();
    deep.set("0", '["$1"]');
    deep.set("1", nested(100_000));
    const missingRoot = new FormData();
    missingRoot.set("1", "[]");
    for (const request of [action(deep), action(missingRoot), action("0=%5B%5D", "application/x-www-form-urlencoded")]) {
      const answer = await proxy(request);
      expect(answer.status).toBe(400);
      expect(await answer.json()).toMatchObject({ error: { code: "INVALID_INPUT", message: expect.stringMatching(/come as a form/) } });
    }
  });

  it("answers 400 for a text body referring to parts it does not have; lets React's self-contained values through", async () => {
    for (const body of ['["$1"]', '[{"a":["$@0"]}]', '["$Q0"]', '["$B0"]', '["$h0"]', '["$K1"]', '["$T"]']) {
      const answer = await proxy(action(body, "text/plain;charset=UTF-8"));
      expect(answer.status, body).toBe(400);
      expect(await answer.json()).toMatchObject({ error: { code: "INVALID_INPUT", message: expect.stringMatching(/refer to a part the request does not have/) } });
    }
    const selfContained = '["$$1", "$undefined", "$NaN", "$Infinity", "$-Infinity", "$-0", "$n12345678901234567890", "$D2020-01-01T00:00:00.000Z", {"$1": "key"}]';
    expect(passes(await proxy(action(selfContained, "text/plain;charset=UTF-8")))).toBe(true);
  });

  it("answers 400 for a text body that is not JSON (React's decoder would throw: a 500)", async () => {
    for (const body of ["not json [[[[", "", "\ud800"]) {
      const answer = await proxy(action(body, "text/plain;charset=UTF-8"));
      expect(answer.status).toBe(400);
      expect(await answer.json()).toMatchObject({ error: { code: "INVALID_INPUT", message: expect.stringMatching(/not valid JSON/) } });
    }
  });

  it("runs for action calls and pages, never for API routes, static files or prefetches", () => {
    expect(config.matcher[0]).toEqual({ source: "/:path*", has: [{ type: "header", key: "next-action" }] });
    const pages = new RegExp(`^${config.matcher[1].source}$`);
    for (const path of ["/", "/workflows/wf_1", "/settings", "/runs/r1"]) expect(pages.test(path), path).toBe(true);
    for (const path of ["/api/hooks/w/t", "/_next/static/chunks/a.js", "/_next/image", "/icon.svg"]) expect(pages.test(path), path).toBe(false);
  });
});

describe("pages (proxy.ts)", () => {
  const page = (host: string) => new NextRequest("http://127.0.0.1:3000/workflows/w1", { headers: { host } });

  it("answers 421 HOST_NOT_ALLOWED naming ORCHESTRATOR_ALLOWED_HOSTS to a foreign Host, for pages and action calls", async () => {
    for (const request of [page("attacker.example"), new NextRequest("http://127.0.0.1:3000/", { method: "POST", headers: { host: "attacker.example", "next-action": "40abc" }, body: "[]" })]) {
      const answer = await proxy(request);
      expect(answer.status).toBe(421);
      const { error } = await answer.json();
      expect(error.code).toBe("HOST_NOT_ALLOWED");
      expect(error.message).toContain("ORCHESTRATOR_ALLOWED_HOSTS");
    }
  });

  it("gives each page a Content-Security-Policy with a fresh nonce, on the response and on the request Next renders", async () => {
    const first = await proxy(page("localhost:3000"));
    const second = await proxy(page("localhost:3000"));
    expect(passes(first)).toBe(true);
    const policy = first.headers.get("content-security-policy")!;
    const nonce = /'nonce-([A-Za-z0-9+/=]+)'/.exec(policy)?.[1];
    expect(nonce).toHaveLength(24);
    expect(second.headers.get("content-security-policy")).not.toContain(nonce);
    for (const directive of ["default-src 'self'", "frame-ancestors 'none'", "object-src 'none'", "base-uri 'self'", "form-action 'self'", "connect-src 'self' ws://localhost:3000 wss://localhost:3000", "'strict-dynamic'"])
      expect(policy).toContain(directive);
    // Next takes the nonce from the request headers it renders with (x-middleware-request-*).
    expect(first.headers.get("x-middleware-request-content-security-policy")).toBe(policy);
    expect(first.headers.get("x-middleware-request-x-nonce")).toBe(nonce);
  });
});
