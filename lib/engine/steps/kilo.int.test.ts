import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLlmGateway } from "@/e2e/fixtures/llm-gateway";
import { StepError } from "../errors";
import { bwrapBinary, bwrapProblem } from "../sandbox/bwrap";
import { changedFiles, kiloBinary, kiloExecutor, snapshot, type KiloOutput } from "./kilo";
import type { StepContext } from "./types";
import { testStepContext } from "./test-context";

/** The real Kilo Code CLI process against the loopback test gateway. */
let gateway: Awaited<ReturnType<typeof startLlmGateway>>;
let dir: string;
const savedDir = process.env.ORCHESTRATOR_DATA_DIR;

beforeAll(async () => {
  gateway = await startLlmGateway();
  dir = mkdtempSync(path.join(tmpdir(), "kilo-"));
  process.env.ORCHESTRATOR_DATA_DIR = dir;
});
afterAll(async () => {
  await gateway.close();
  process.env.ORCHESTRATOR_DATA_DIR = savedDir;
  rmSync(dir, { recursive: true, force: true });
});

function context(overrides: Partial<StepContext> = {}) {
  return testStepContext({ stepId: "agent", settings: { llmGatewayUrl: gateway.url, llmApiKey: "k" }, ...overrides });
}

const bin = kiloBinary();
const sandboxProblem = bin ? bwrapProblem(bwrapBinary(bin)) : null;
const hasKilo = bin !== undefined && sandboxProblem === null;
if (!bin) console.warn("The Kilo Code CLI (@kilocode/cli-linux-x64) is not installed: the kilo process tests are skipped.");
else if (sandboxProblem) console.warn(`bubblewrap cannot start here (${sandboxProblem}): the kilo process tests, which run Kilo confined, are skipped.`);

describe("kilo step", () => {
  it.skipIf(!hasKilo)("runs the CLI in the run's workspace against the gateway, streaming its events and usage", async () => {
    const { ctx, logs, tokens, usage } = context();
    const output = (await kiloExecutor({ prompt: "say hello", model: "test-model" }, ctx)) as KiloOutput;
    expect(output.exitCode).toBe(0);
    expect(output.text).toContain("Echo: say hello");
    expect(output.filesChanged).toEqual([]);
    expect(tokens.join("")).toContain("Echo:");
    expect(logs.some((l) => l.text.includes("step_finish"))).toBe(true);
    expect(usage).toEqual([{ model: "test-model", promptTokens: expect.any(Number), completionTokens: expect.any(Number) }]);
    expect(gateway.requests.some((r) => r.model === "test-model")).toBe(true);
  }, 60_000);

  it.skipIf(!hasKilo)("reports the files the agent wrote in the workspace", async () => {
    const { ctx } = context();
    const output = (await kiloExecutor({ prompt: "take notes", model: "tool-write" }, ctx)) as KiloOutput;
    expect(output).toMatchObject({ exitCode: 0, filesChanged: ["NOTES.md"] });
    expect(output.text).toContain("Wrote NOTES.md");
    expect(readFileSync(path.join(dir, "workspaces", ctx.runId, "NOTES.md"), "utf8")).toMatch(/written by the agent for: "?take notes/);
    // A second step in the same run works on the same files: an unchanged workspace reports nothing new.
    const again = (await kiloExecutor({ prompt: "say hi", model: "test-model" }, ctx)) as KiloOutput;
    expect(again.filesChanged).toEqual([]);
  }, 60_000);

  it.skipIf(!hasKilo)("kills the process group at the time limit and when the run is cancelled", async () => {
    const slow = context();
    const started = Date.now();
    const error = await kiloExecutor({ prompt: "take your time", model: "slow-30000", timeoutMs: 2000 }, slow.ctx).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StepError);
    expect(error).toMatchObject({ code: "KILO_TIMEOUT" });
    expect(Date.now() - started).toBeLessThan(10_000);
    await expect.poll(() => gateway.requests.filter((r) => r.model === "slow-30000").every((r) => r.aborted)).toBe(true);

    const controller = new AbortController();
    const cancelled = context({ signal: controller.signal });
    setTimeout(() => controller.abort(new Error("cancelled")), 1500);
    await expect(kiloExecutor({ prompt: "never", model: "slow-30000" }, cancelled.ctx)).rejects.toThrow("cancelled");
  }, 60_000);

  it.skipIf(!hasKilo)("confines the agent: it reads its workspace, but not the data directory's secret key nor the app's files", async () => {
    writeFileSync(path.join(dir, "secret.key"), "TOP-SECRET-KEY-MATERIAL");
    const { ctx } = context();
    const workspace = path.join(dir, "workspaces", ctx.runId);
    mkdirSync(workspace, { recursive: true });
    writeFileSync(path.join(workspace, "brief.txt"), "the brief for the agent");
    const own = (await kiloExecutor({ prompt: `read ${path.join(workspace, "brief.txt")}`, model: "tool-read" }, ctx)) as KiloOutput;
    expect(own.text).toContain("the brief for the agent");

    const secret = (await kiloExecutor({ prompt: `read ${path.join(dir, "secret.key")}`, model: "tool-read" }, ctx)) as KiloOutput;
    expect(secret.text).toMatch(/^Tool said: /);
    expect(secret.text).not.toContain("TOP-SECRET-KEY-MATERIAL");
    const app = (await kiloExecutor({ prompt: `read ${path.resolve("package.json")}`, model: "tool-read" }, ctx)) as KiloOutput;
    expect(app.text).toMatch(/^Tool said: /);
    expect(app.text).not.toContain("llm-orchestrator");
    // The gateway saw the tool results the agent sent back: nothing of the hidden files left the sandbox.
    expect(JSON.stringify(gateway.requests)).not.toContain("TOP-SECRET-KEY-MATERIAL");
  }, 90_000);

  it.skipIf(!hasKilo)("runs on the default model from Settings when the step names none", async () => {
    const { ctx, usage } = context({ settings: { llmGatewayUrl: gateway.url, llmApiKey: "k", defaultModel: "test-model" } });
    gateway.clearLog();
    const output = (await kiloExecutor({ prompt: "say hello" }, ctx)) as KiloOutput;
    expect(output.text).toContain("Echo: say hello");
    expect(usage.map((u) => u.model)).toEqual(["test-model"]);
    expect(gateway.requests.length).toBeGreaterThan(0);
    expect(gateway.requests.every((r) => r.model === "test-model")).toBe(true);
  }, 60_000);

  it.skipIf(!bin)("without a model or a default model it fails saying what to set, before starting the agent", async () => {
    gateway.clearLog();
    await expect(kiloExecutor({ prompt: "x" }, context().ctx)).rejects.toMatchObject({
      code: "LLM_NOT_CONFIGURED",
      message: 'step "agent" names no model and no default model is set: set the step\'s model, or a default model on the Settings page (or LLM_DEFAULT_MODEL)',
    });
    expect(gateway.requests).toHaveLength(0);
  });

  it("fails with an install hint when the binary is missing", async () => {
    const saved = process.env.KILO_BIN;
    process.env.KILO_BIN = path.join(dir, "no-such-kilo");
    try {
      await expect(kiloExecutor({ prompt: "x", model: "m" }, context().ctx)).rejects.toMatchObject({ code: "KILO_NOT_INSTALLED", message: expect.stringMatching(/npm install @kilocode\/cli-linux-x64/) });
    } finally {
      if (saved === undefined) delete process.env.KILO_BIN;
      else process.env.KILO_BIN = saved;
    }
  });

  it("lists the files created, changed or deleted in the workspace", async () => {
    const root = mkdtempSync(path.join(tmpdir(), "ws-"));
    writeFileSync(path.join(root, "keep.txt"), "same");
    writeFileSync(path.join(root, "edit.txt"), "old");
    writeFileSync(path.join(root, "gone.txt"), "bye");
    const before = await snapshot(root);
    writeFileSync(path.join(root, "edit.txt"), "new content");
    writeFileSync(path.join(root, "new.txt"), "hi");
    rmSync(path.join(root, "gone.txt"));
    expect(changedFiles(before, await snapshot(root))).toEqual(["edit.txt", "gone.txt", "new.txt"]);
    rmSync(root, { recursive: true, force: true });
  });
});
