import { mkdtempSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sqliteTestDatabase, type TestDatabase } from "@/e2e/fixtures/databases";
import { startLlmGateway } from "@/e2e/fixtures/llm-gateway";
import { createDb, type Db } from "@/lib/db";
import { probeGateway, saveGatewaySettings, testGatewayConnection } from "./settings";

/** Settings' "Test connection": the real test gateway (with a required key) and loopback servers that answer badly. */
let database: TestDatabase;
let db: Db;
let gateway: Awaited<ReturnType<typeof startLlmGateway>>;
let other: Server;
let otherUrl: string;
const otherRequests: Array<{ url?: string; headers: IncomingHttpHeaders }> = [];
let otherAnswer: (res: import("node:http").ServerResponse) => void;
const savedEnv = { url: process.env.LLM_GATEWAY_URL, key: process.env.LLM_API_KEY, dir: process.env.ORCHESTRATOR_DATA_DIR };

beforeAll(async () => {
  delete process.env.LLM_GATEWAY_URL;
  delete process.env.LLM_API_KEY;
  process.env.ORCHESTRATOR_DATA_DIR = mkdtempSync(path.join(tmpdir(), "gateway-probe-")); // the secret key file
  database = sqliteTestDatabase();
  db = await createDb(database.url);
  gateway = await startLlmGateway({ apiKey: "right-key" });
  other = createServer((req, res) => {
    otherRequests.push({ url: req.url, headers: req.headers });
    otherAnswer(res);
  });
  await new Promise<void>((resolve) => other.listen(0, "127.0.0.1", resolve));
  otherUrl = `http://127.0.0.1:${(other.address() as AddressInfo).port}/v1`;
});
afterAll(async () => {
  Object.assign(process.env, { LLM_GATEWAY_URL: savedEnv.url ?? "", LLM_API_KEY: savedEnv.key ?? "", ORCHESTRATOR_DATA_DIR: savedEnv.dir ?? "" });
  if (savedEnv.url === undefined) delete process.env.LLM_GATEWAY_URL;
  if (savedEnv.key === undefined) delete process.env.LLM_API_KEY;
  if (savedEnv.dir === undefined) delete process.env.ORCHESTRATOR_DATA_DIR;
  other.closeAllConnections();
  await new Promise((resolve) => other.close(resolve));
  await gateway.close();
  await db.$disconnect();
  await database.drop();
});

describe("test connection", () => {
  it("lists the gateway's models with the stored key", async () => {
    await saveGatewaySettings(db, { llmGatewayUrl: gateway.url, llmApiKey: "right-key" });
    const probe = await testGatewayConnection(db);
    expect(probe).toMatchObject({ ok: true, url: `${gateway.url}/models`, key: "stored", models: expect.arrayContaining(["test-model", "gpt-4o-mini"]) });
  });

  it("says the key was refused (401) with the gateway's message, for a key typed in the form", async () => {
    const probe = await testGatewayConnection(db, { llmApiKey: "wrong-key" });
    expect(probe).toMatchObject({ ok: false, problem: "unauthorized", key: "form" });
    expect(probe.ok || probe.message).toBe("the gateway refused the API key (HTTP 401: Incorrect API key provided.); enter the key it expects and save");
  });

  it("says a gateway cannot be reached, naming the URL and the cause", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve)); // nothing listens there now
    const probe = await testGatewayConnection(db, { llmGatewayUrl: `http://127.0.0.1:${port}/v1` });
    expect(probe).toMatchObject({ ok: false, problem: "unreachable" });
    expect(probe.ok || probe.message).toMatch(new RegExp(`^could not reach http://127\\.0\\.0\\.1:${port}/v1/models: .*ECONNREFUSED.*; check the URL and that the gateway is running$`));
  });

  it("says a server is not an OpenAI-compatible gateway: an HTML page, or HTTP 404 at the wrong base URL", async () => {
    otherAnswer = (res) => res.writeHead(200, { "content-type": "text/html" }).end("<html>hello</html>");
    const html = await probeGateway(otherUrl, undefined);
    expect(html).toMatchObject({ ok: false, problem: "not-openai" });
    expect(html.ok || html.message).toContain('did not answer like an OpenAI-compatible gateway (expected JSON { "data": [{ "id": "…" }] }, got "<html>hello</html>")');

    otherAnswer = (res) => res.writeHead(404, { "content-type": "text/plain" }).end("Not Found");
    const missing = await probeGateway(otherUrl, undefined);
    expect(missing).toMatchObject({ ok: false, problem: "http" });
    expect(missing.ok || missing.message).toBe(`${otherUrl}/models answered HTTP 404: Not Found; check the base URL (an OpenAI-compatible gateway serves /models under it, usually …/v1)`);
  });

  it("gives up after its time limit when the gateway does not answer", async () => {
    otherAnswer = () => undefined; // never answers
    const started = Date.now();
    const probe = await probeGateway(otherUrl, undefined, { timeoutMs: 300 });
    expect(Date.now() - started).toBeLessThan(3000);
    expect(probe).toMatchObject({ ok: false, problem: "timeout", message: `${otherUrl}/models did not answer within 0.3 s: is the gateway running and the address right?` });
  });

  it("sends the environment's key only to the environment's gateway, never to a URL typed on the page", async () => {
    await db.setting.deleteMany({ where: { key: { in: ["llm.gatewayUrl", "llm.apiKey"] } } });
    process.env.LLM_GATEWAY_URL = gateway.url;
    process.env.LLM_API_KEY = "right-key";
    try {
      expect(await testGatewayConnection(db)).toMatchObject({ ok: true, key: "stored" });
      otherRequests.length = 0;
      otherAnswer = (res) => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ object: "list", data: [{ id: "elsewhere" }] }));
      expect(await testGatewayConnection(db, { llmGatewayUrl: otherUrl })).toMatchObject({ ok: true, key: "none", models: ["elsewhere"] });
      expect(otherRequests).toHaveLength(1);
      expect(otherRequests[0].headers.authorization).toBeUndefined();
    } finally {
      delete process.env.LLM_GATEWAY_URL;
      delete process.env.LLM_API_KEY;
    }
  });

  it("refuses an answer over 4 MB without reading it all, and the process keeps answering", async () => {
    // A hostile or wrong URL that streams without end: the probe stops at the cap.
    otherAnswer = (res) => {
      res.writeHead(200, { "content-type": "application/json" });
      const chunk = "x".repeat(64 * 1024);
      const write = () => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once("drain", write);
      };
      res.on("error", () => undefined);
      write();
    };
    const probe = await probeGateway(otherUrl, undefined);
    expect(probe).toMatchObject({ ok: false, problem: "not-openai" });
    expect(probe.ok || probe.message).toBe(`${otherUrl}/models answered with more than 4 MB: that is not an OpenAI-compatible models list; check the base URL`);
    expect(await probeGateway(gateway.url, "right-key")).toMatchObject({ ok: true });
  });
});
