import { mkdtempSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sqliteTestDatabase, type TestDatabase } from "@/e2e/fixtures/databases";
import { createDb, type Db } from "@/lib/db";
import { addressRefusal } from "@/lib/net/address-policy";
import { startLlmGateway } from "@/e2e/fixtures/llm-gateway";
import {
  getGatewaySettings,
  getHttpAllowSettings,
  listGatewayModels,
  resolveRuntimeSettings,
  saveDefaultModel,
  saveGatewaySettings,
  saveHttpAllowList,
  testGatewayConnection,
} from "./settings";

let database: TestDatabase;
let db: Db;
const savedEnv = { url: process.env.LLM_GATEWAY_URL, key: process.env.LLM_API_KEY, dir: process.env.ORCHESTRATOR_DATA_DIR };

beforeAll(async () => {
  delete process.env.LLM_GATEWAY_URL;
  delete process.env.LLM_API_KEY;
  process.env.ORCHESTRATOR_DATA_DIR = mkdtempSync(path.join(tmpdir(), "settings-")); // holds the key file
  database = sqliteTestDatabase();
  db = await createDb(database.url);
});
afterAll(async () => {
  process.env.LLM_GATEWAY_URL = savedEnv.url;
  process.env.LLM_API_KEY = savedEnv.key;
  process.env.ORCHESTRATOR_DATA_DIR = savedEnv.dir;
  await db.$disconnect();
  await database.drop();
});

describe("gateway settings", () => {
  it("stores the API key encrypted, shows only that one is set, and gives executors the real key", async () => {
    expect(await getGatewaySettings(db)).toEqual({ llmGatewayUrl: undefined, hasApiKey: false, source: "none" });
    await saveGatewaySettings(db, { llmGatewayUrl: "http://127.0.0.1:4000/v1", llmApiKey: "sk-very-secret" });

    const stored = await db.setting.findUnique({ where: { key: "llm.apiKey" } });
    expect(stored?.encrypted).toBe(true);
    expect(stored?.value).not.toContain("sk-very-secret");

    const view = await getGatewaySettings(db);
    expect(view).toEqual({ llmGatewayUrl: "http://127.0.0.1:4000/v1", hasApiKey: true, source: "settings" });
    expect(JSON.stringify(view)).not.toContain("sk-very-secret");
    expect(await resolveRuntimeSettings(db)).toMatchObject({ llmGatewayUrl: "http://127.0.0.1:4000/v1", llmApiKey: "sk-very-secret" });
  });

  it("keeps the saved key when the same URL is saved without one, and lets env variables win", async () => {
    expect(await saveGatewaySettings(db, { llmGatewayUrl: "http://127.0.0.1:4000/v1/" })).toEqual({ keyCleared: false });
    expect(await resolveRuntimeSettings(db)).toMatchObject({ llmGatewayUrl: "http://127.0.0.1:4000/v1/", llmApiKey: "sk-very-secret" });
    process.env.LLM_GATEWAY_URL = "http://127.0.0.1:6000/v1";
    process.env.LLM_API_KEY = "env-key";
    try {
      expect(await getGatewaySettings(db)).toMatchObject({ llmGatewayUrl: "http://127.0.0.1:6000/v1", source: "env" });
      expect(await resolveRuntimeSettings(db)).toMatchObject({ llmGatewayUrl: "http://127.0.0.1:6000/v1", llmApiKey: "env-key" });
    } finally {
      delete process.env.LLM_GATEWAY_URL;
      delete process.env.LLM_API_KEY;
    }
  });

  it("never sends the stored key to a new URL: saving another URL without a key deletes it; with a key, the new key goes", async () => {
    // The gateway the key was entered for, and another listener on loopback that records what reaches it.
    const seen: Array<string | undefined> = [];
    const other = createServer((req, res) => {
      seen.push(req.headers.authorization);
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ object: "list", data: [{ id: "m" }] }));
    });
    await new Promise<void>((resolve) => other.listen(0, "127.0.0.1", resolve));
    const otherUrl = `http://127.0.0.1:${(other.address() as AddressInfo).port}/v1`;
    try {
      await saveGatewaySettings(db, { llmGatewayUrl: "http://127.0.0.1:4000/v1", llmApiKey: "sk-very-secret" });
      // "Test connection" of the new URL before saving: the stored key stays home.
      expect(await testGatewayConnection(db, { llmGatewayUrl: otherUrl })).toMatchObject({ ok: true, key: "none" });
      expect(await saveGatewaySettings(db, { llmGatewayUrl: otherUrl })).toEqual({ keyCleared: true });
      expect(await getGatewaySettings(db)).toMatchObject({ llmGatewayUrl: otherUrl, hasApiKey: false });
      expect(await db.setting.count({ where: { key: "llm.apiKey" } })).toBe(0);
      expect(await resolveRuntimeSettings(db)).toMatchObject({ llmGatewayUrl: otherUrl, llmApiKey: undefined });
      // What runs and the Settings page send there: the models list and a test of the saved gateway.
      expect(await listGatewayModels(db)).toEqual(["m"]);
      expect(await testGatewayConnection(db)).toMatchObject({ ok: true, key: "none" });
      expect(seen).toEqual([undefined, undefined, undefined]);

      expect(await saveGatewaySettings(db, { llmGatewayUrl: "http://127.0.0.1:4000/v1", llmApiKey: "sk-for-4000" })).toEqual({ keyCleared: false });
      expect(await saveGatewaySettings(db, { llmGatewayUrl: otherUrl, llmApiKey: "sk-for-other" })).toEqual({ keyCleared: false });
      expect(await listGatewayModels(db)).toEqual(["m"]);
      expect(seen.at(-1)).toBe("Bearer sk-for-other");
      // LLM_API_KEY alone belongs to LLM_GATEWAY_URL: it is not sent to a URL saved on the page.
      await saveGatewaySettings(db, { llmGatewayUrl: `${otherUrl}/` }); // the same URL: the key stays
      await db.setting.deleteMany({ where: { key: "llm.apiKey" } });
      process.env.LLM_API_KEY = "env-key";
      try {
        expect(await listGatewayModels(db)).toEqual(["m"]);
        expect(seen.at(-1)).toBeUndefined();
      } finally {
        delete process.env.LLM_API_KEY;
      }
    } finally {
      other.closeAllConnections();
      await new Promise((resolve) => other.close(resolve));
    }
  });

  it("keeps the HTTP allow-list from the settings page and ORCHESTRATOR_HTTP_ALLOW, refusing entries it cannot read", async () => {
    await expect(saveHttpAllowList(db, ["10.0.0.0/8", "not a host!"])).rejects.toMatchObject({ code: "INVALID_INPUT", message: expect.stringMatching(/"not a host!"/) });
    expect(await getHttpAllowSettings(db)).toEqual({ env: [], saved: [] });
    await saveHttpAllowList(db, ["10.20.0.0/16", "api.internal"]);
    process.env.ORCHESTRATOR_HTTP_ALLOW = "127.0.0.1, ::1";
    try {
      expect(await getHttpAllowSettings(db)).toEqual({ env: ["127.0.0.1", "::1"], saved: ["10.20.0.0/16", "api.internal"] });
      const { httpAllow } = await resolveRuntimeSettings(db);
      expect(addressRefusal("10.20.3.4", httpAllow!)).toBeNull();
      expect(addressRefusal("127.0.0.1", httpAllow!)).toBeNull();
      expect(addressRefusal("10.21.0.1", httpAllow!)).toMatch(/private/);
      expect(addressRefusal("192.168.1.1", httpAllow!, "api.internal")).toBeNull();
    } finally {
      delete process.env.ORCHESTRATOR_HTTP_ALLOW;
    }
  });

  it("keeps a default model and lists the gateway's models", async () => {
    const gateway = await startLlmGateway();
    process.env.LLM_GATEWAY_URL = gateway.url;
    try {
      await saveDefaultModel(db, "test-model");
      expect(await getGatewaySettings(db)).toMatchObject({ defaultModel: "test-model" });
      expect(await resolveRuntimeSettings(db)).toMatchObject({ defaultModel: "test-model" });
      expect(await listGatewayModels(db)).toEqual(expect.arrayContaining(["gpt-4o-mini", "test-model"]));
    } finally {
      delete process.env.LLM_GATEWAY_URL;
      await gateway.close();
    }
    process.env.LLM_GATEWAY_URL = "http://127.0.0.1:9/v1"; // nothing listens there
    try {
      expect(await listGatewayModels(db)).toEqual([]);
    } finally {
      delete process.env.LLM_GATEWAY_URL;
    }
  });
});
