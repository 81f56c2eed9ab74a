import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "@/e2e/fixtures/cli-process";
import { startLlmGateway } from "@/e2e/fixtures/llm-gateway";
import { createDb, migrateDatabase } from "@/lib/db";
import { savePriceTable } from "@/lib/pricing";
import { saveDefaultModel } from "@/lib/settings";

/**
 * The README's example lines, run with the real CLI: examples/simple.json needs a topic (its input schema says so),
 * and without a model its steps run on the default model from Settings, priced under that model.
 */
const SIMPLE = path.resolve("examples/simple.json");

let dir: string;
let gateway: Awaited<ReturnType<typeof startLlmGateway>>;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "orchestrator-cli-examples-"));
  gateway = await startLlmGateway();
  const url = `file:${path.join(dir, "cli.db")}`;
  env = { ...process.env, DATABASE_URL: url, ORCHESTRATOR_DATA_DIR: dir, LLM_GATEWAY_URL: gateway.url, LLM_API_KEY: "k", LOG_LEVEL: "silent" };
  delete env.LLM_DEFAULT_MODEL;
  await migrateDatabase(url);
  const db = await createDb(url);
  await saveDefaultModel(db, "house-model");
  await savePriceTable(db, { "house-model": { inputPerMillion: 1_000_000, outputPerMillion: 2_000_000 } });
  await db.$disconnect();
});
afterAll(async () => {
  await gateway.close();
  rmSync(dir, { recursive: true, force: true });
});

const cli = (...args: string[]) => runCli(args, { env, cwd: dir });

describe("orchestrator run examples/simple.json", { timeout: 120_000 }, () => {
  it("without input: exits 2 naming the required topic, and runs nothing", async () => {
    const res = await cli("run", SIMPLE, "--json");
    expect(res.code).toBe(2);
    expect(JSON.parse(res.stdout).error).toMatchObject({ code: "INVALID_INPUT", issues: [{ field: "input.topic", message: "input.topic: is required" }] });
    expect(res.stderr).toContain("input.topic: is required");
    expect(gateway.requests).toHaveLength(0);
  });

  it("with --input: runs both steps on the default model and prices them under it", async () => {
    const res = await cli("run", SIMPLE, "--input", '{"topic":"owls"}', "--json");
    expect(res.code).toBe(0);
    const out = JSON.parse(res.stdout);
    expect(out).toMatchObject({ status: "succeeded", outputs: { draft: { model: "house-model" }, polish: { model: "house-model", text: expect.stringContaining("owls") } } });
    expect(gateway.requests.map((r) => r.model)).toEqual(["house-model", "house-model"]);

    const db = await createDb(env.DATABASE_URL);
    try {
      const steps = await db.stepRun.findMany({ where: { runId: out.runId } });
      const expected = steps.reduce((sum, s) => sum + (s.promptTokens ?? 0) * 1 + (s.completionTokens ?? 0) * 2, 0);
      expect(expected).toBeGreaterThan(0);
      const stored = await db.run.findUniqueOrThrow({ where: { id: out.runId } });
      expect(stored.costUsd).toBeCloseTo(expected, 6);
    } finally {
      await db.$disconnect();
    }
  });
});
