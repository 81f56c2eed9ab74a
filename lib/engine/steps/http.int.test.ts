import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllowList } from "@/lib/net/address-policy";
import { StepError } from "../errors";
import { httpExecutor, type HttpOutput } from "./http";
import type { StepContext } from "./types";
import { testStepContext } from "./test-context";

/** The http step against a real loopback server, opened for the tests by an allow-list entry. */
let server: Server;
let base: string;
const hits: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    hits.push(`${req.method} ${url.pathname}`);
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      const json = (status: number, value: unknown) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(value));
      };
      if (url.pathname === "/echo")
        return json(200, { method: req.method, query: Object.fromEntries(url.searchParams), headers: req.headers, body: body ? JSON.parse(body) : null });
      if (url.pathname === "/text") return res.writeHead(200, { "content-type": "text/plain" }).end("plain words");
      if (url.pathname.startsWith("/status/")) return json(Number(url.pathname.slice(8)), { error: "as asked" });
      if (url.pathname === "/redirect") return res.writeHead(302, { location: "/echo?via=redirect" }).end();
      if (url.pathname === "/redirect-metadata") return res.writeHead(302, { location: "http://169.254.169.254/latest/meta-data/" }).end();
      if (url.pathname === "/redirect-loopback6") return res.writeHead(307, { location: `http://[::1]:${(server.address() as AddressInfo).port}/echo` }).end();
      if (url.pathname === "/redirect-loop") return res.writeHead(302, { location: "/redirect-loop" }).end();
      if (url.pathname === "/big") return res.writeHead(200, { "content-type": "text/plain" }).end("x".repeat(2 * 1024 * 1024));
      if (url.pathname === "/slow") return setTimeout(() => json(200, { late: true }), 3000);
      if (url.pathname === "/deep") {
        const levels = Number(url.searchParams.get("levels"));
        return res.writeHead(200, { "content-type": "application/json" }).end(`${'{"a":'.repeat(levels)}1${"}".repeat(levels)}`);
      }
      json(404, { error: "no route" });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const allow = parseAllowList(["127.0.0.1"]).allow;

function context(overrides: Partial<StepContext> = {}): StepContext {
  return testStepContext({ stepId: "call", settings: { httpAllow: allow }, ...overrides }).ctx;
}

const call = (config: Record<string, unknown>, ctx = context()) => httpExecutor(config, ctx) as Promise<HttpOutput>;
async function failure(config: Record<string, unknown>, ctx = context()): Promise<StepError> {
  try {
    await call(config, ctx);
  } catch (err) {
    return err as StepError;
  }
  throw new Error("expected the http step to fail");
}

describe("http step", () => {
  it("sends method, query, headers and a JSON body; parses a JSON answer into { status, headers, body }", async () => {
    const out = await call({ method: "POST", url: `${base}/echo`, query: { q: "owls", n: 3 }, headers: { "X-Trace": "t1" }, body: { text: "hi" } });
    expect(out.status).toBe(200);
    expect(out.headers["content-type"]).toBe("application/json");
    expect(out.body).toMatchObject({ method: "POST", query: { q: "owls", n: "3" }, headers: { "x-trace": "t1", "content-type": "application/json" }, body: { text: "hi" } });
    expect((await call({ url: `${base}/text` })).body).toBe("plain words");
  });

  it("fails on a non-2xx status unless acceptStatus lists it; 5xx is retryable, 4xx is not", async () => {
    const notFound = await failure({ url: `${base}/status/404` });
    expect(notFound).toMatchObject({ code: "HTTP_ERROR", retryable: false });
    expect(notFound.message).toMatch(/GET http:\/\/127\.0\.0\.1:\d+\/status\/404 answered 404/);
    expect(await failure({ url: `${base}/status/503` })).toMatchObject({ code: "HTTP_ERROR", retryable: true });
    expect(await call({ url: `${base}/status/404`, acceptStatus: [404] })).toMatchObject({ status: 404, body: { error: "as asked" } });
  });

  it("follows redirects, re-checking each one: a redirect to a refused address is refused", async () => {
    const followed = testStepContext({ stepId: "call", settings: { httpAllow: allow } });
    expect((await call({ url: `${base}/redirect` }, followed.ctx)).body).toMatchObject({ query: { via: "redirect" } });
    // The step log tells the request, each redirect and the answer as they happen.
    expect(followed.logs.map((l) => l.text)).toEqual([
      `GET ${base}/redirect`,
      `302 redirect to ${base}/echo?via=redirect`,
      expect.stringMatching(/^answered 200 with \d+ bytes in \d+ ms$/),
    ]);
    const metadata = await failure({ url: `${base}/redirect-metadata` });
    expect(metadata).toMatchObject({ code: "HTTP_BLOCKED", retryable: false });
    expect(metadata.message).toMatch(/169\.254\.169\.254.*link-local/);
    expect(await failure({ url: `${base}/redirect-loopback6` })).toMatchObject({ code: "HTTP_BLOCKED" });
    expect((await failure({ url: `${base}/redirect-loop` })).message).toMatch(/more than 5 redirects/);
  });

  it("refuses loopback without the allow-list entry, before sending anything", async () => {
    const before = hits.length;
    const blocked = await failure({ url: `${base}/echo` }, context({ settings: {} }));
    expect(blocked).toMatchObject({ code: "HTTP_BLOCKED" });
    expect(blocked.message).toMatch(/loopback.*ORCHESTRATOR_HTTP_ALLOW/);
    expect(hits.length).toBe(before);
  });

  it("caps the response size and the time", async () => {
    expect(await failure({ url: `${base}/big`, maxResponseBytes: 1024 * 1024 })).toMatchObject({ code: "HTTP_RESPONSE_TOO_LARGE" });
    expect((await call({ url: `${base}/big` })).body).toHaveLength(2 * 1024 * 1024);
    const started = Date.now();
    expect(await failure({ url: `${base}/slow`, timeoutMs: 300 })).toMatchObject({ code: "HTTP_TIMEOUT", retryable: true });
    expect(Date.now() - started).toBeLessThan(2000);
    // A time limit from a template that is not a number is named, not turned into an instant abort.
    expect(await failure({ url: `${base}/echo`, timeoutMs: "soon" })).toMatchObject({ code: "STEP_FAILED", message: expect.stringMatching(/config\.timeoutMs.*positive number.*"soon"/) });
  });

  it("fails naming the nesting limit when the answer is JSON nested too deep (the checkpoint would overflow the stack)", async () => {
    const deep = await failure({ url: `${base}/deep?levels=5000` });
    expect(deep).toMatchObject({ code: "NESTING_LIMIT", stepId: "call", retryable: false });
    expect(deep.message).toMatch(/^GET http:\/\/127\.0\.0\.1:\d+\/deep answered with JSON that is too deep: body\.a\.a\.a\.a…: is nested more than 100 levels deep \(the nesting limit, ORCHESTRATOR_MAX_JSON_DEPTH\)/);
    // Within the limit it is parsed; as text it is kept whole.
    expect((await call({ url: `${base}/deep?levels=100` })).body).toMatchObject({ a: { a: { a: {} } } });
    expect((await call({ url: `${base}/deep?levels=5000`, responseType: "text" })).body).toHaveLength(5000 * 6 + 1);
  });

  it("is aborted when the run is cancelled", async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error("cancelled")), 100);
    await expect(call({ url: `${base}/slow` }, context({ signal: controller.signal }))).rejects.toThrow();
  });
});
