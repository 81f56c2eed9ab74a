import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { defineConfig, devices } from "@playwright/test";

/**
 * End-to-end tests in Debian's Chromium (no browser download) against the real server (server.ts: Next +
 * Socket.IO + runner, production build) on a fresh data directory, with the OpenAI-compatible test gateway.
 */
const APP_PORT = Number(process.env.E2E_PORT ?? 3100);
const GATEWAY_PORT = Number(process.env.E2E_GATEWAY_PORT ?? 4010);
const dataDir = process.env.E2E_DATA_DIR ?? mkdtempSync(path.join(tmpdir(), "orchestrator-e2e-"));
process.env.E2E_DATA_DIR = dataDir; // workers re-evaluate this file: keep one directory

/** Debian's Chromium, no download. */
const chromium = {
  ...devices["Desktop Chrome"],
  viewport: { width: 1440, height: 900 },
  launchOptions: {
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  },
};

export default defineConfig({
  testDir: "e2e",
  testMatch: ["**/*.spec.ts", "owner.setup.ts"],
  fullyParallel: false,
  workers: 1,
  retries: 0,
  timeout: 60_000,
  expect: { timeout: 10_000 },
  reporter: [["list"]],
  use: {
    baseURL: `http://127.0.0.1:${APP_PORT}`,
    trace: "retain-on-failure",
    screenshot: "only-on-failure",
  },
  projects: [
    { name: "setup", testMatch: "owner.setup.ts", use: { ...chromium } },
    {
      name: "chromium",
      testMatch: "**/*.spec.ts",
      dependencies: ["setup"],
      use: {
        ...chromium,
        storageState: path.join(dataDir, "owner-state.json"), // e2e/fixtures/auth.ts OWNER_STATE
      },
    },
  ],
  webServer: [
    {
      command: "npx tsx e2e/fixtures/llm-gateway-server.ts",
      env: { LLM_GATEWAY_PORT: String(GATEWAY_PORT) },
      url: `http://127.0.0.1:${GATEWAY_PORT}/v1/models`,
      reuseExistingServer: false,
      timeout: 60_000,
    },
    {
      // The app is served from a production build, made here unless E2E_SKIP_BUILD=1.
      command: process.env.E2E_SKIP_BUILD === "1" ? "npx tsx server.ts" : "npx next build && npx tsx server.ts",
      env: {
        NODE_ENV: "production",
        PORT: String(APP_PORT),
        ORCHESTRATOR_DATA_DIR: dataDir,
        DATABASE_URL: "",
        LLM_GATEWAY_URL: `http://127.0.0.1:${GATEWAY_PORT}/v1`,
        LLM_API_KEY: "e2e",
        // HTTP steps in the e2e tests call the loopback test gateway, which the SSRF guard refuses by default.
        ORCHESTRATOR_HTTP_ALLOW: "127.0.0.1",
        NEXT_TELEMETRY_DISABLED: "1",
        LOG_LEVEL: "warn",
      },
      url: `http://127.0.0.1:${APP_PORT}/`,
      reuseExistingServer: false,
      timeout: 300_000,
      stdout: "pipe",
    },
  ],
});
