import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLlmGateway } from "@/e2e/fixtures/llm-gateway";
import { InvalidRunError, WorkflowOrchestrator } from "@/lib/orchestrator";

/**
 * Deeply nested data from every side, through the TypeScript API with the real runner and SQLite: refused
 * before it is stored, or the step that brought it in fails naming the nesting limit — never a stack overflow
 * reported as INTERNAL by the checkpoint serializer — and the next run works.
 */
const dir = mkdtempSync(path.join(tmpdir(), "orchestrator-nesting-"));
const orchestrator = new WorkflowOrchestrator();
let gateway: Awaited<ReturnType<typeof startLlmGateway>>;
let api: Server;
let apiBase: string;

const nestedArrays = (levels: number) => `${"[".repeat(levels)}${"]".repeat(levels)}`;
const LIMIT = /is nested more than 100 levels deep \(the nesting limit, ORCHESTRATOR_MAX_JSON_DEPTH\)/;

beforeAll(async () => {
  api = createServer((req, res) => {
    req.resume();
    req.on("end", () => res.writeHead(200, { "content-type": "application/json" }).end(nestedArrays(Number(new URL(req.url!, "http://x").searchParams.get("levels")))));
  });
  await new Promise<void>((resolve) => api.listen(0, "127.0.0.1", resolve));
  apiBase = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
  gateway = await startLlmGateway();
  Object.assign(process.env, {
    DATABASE_URL: `file:${path.join(dir, "nesting.db")}`,
    ORCHESTRATOR_DATA_DIR: dir,
    LLM_GATEWAY_URL: gateway.url,
    LLM_API_KEY: "k",
    ORCHESTRATOR_HTTP_ALLOW: "127.0.0.1",
  });
});
afterAll(async () => {
  await orchestrator.close();
  await gateway.close();
  await new Promise((resolve) => api.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

const echo = { id: "echo", name: "Echo", steps: [{ id: "out", type: "transform", config: { output: "{{ input }}" } }] };

describe("nesting limit through the TypeScript API", () => {
  it("executeWorkflow throws InvalidRunError for input nested 20,000 levels or a definition nested 5,000, and runs the next one", async () => {
    const input = await orchestrator.executeWorkflow(echo, { input: JSON.parse(nestedArrays(20_000)) }).catch((err: unknown) => err);
    expect(input).toBeInstanceOf(InvalidRunError);
    expect(input).toMatchObject({ code: "INVALID_INPUT", issues: [{ code: "NESTING_LIMIT", field: "input" }], message: expect.stringMatching(LIMIT) });

    const deepDefinition = { ...echo, steps: [{ id: "out", type: "transform", config: { output: JSON.parse(nestedArrays(5000)) } }] };
    const definition = await orchestrator.executeWorkflow(deepDefinition).catch((err: unknown) => err);
    expect(definition).toBeInstanceOf(InvalidRunError);
    expect(definition).toMatchObject({ code: "INVALID_DEFINITION", issues: [{ code: "NESTING_LIMIT", stepId: "out", field: "config.output" }] });

    expect(await orchestrator.executeWorkflow(echo, { input: { fine: [[1]] } })).toMatchObject({ status: "succeeded", outputs: { out: { fine: [[1]] } } });
  });

  it("a step that brings in data nested too deep (http answer, code result, llm JSON) fails naming the step and the limit", async () => {
    const run = (step: Record<string, unknown>) => orchestrator.executeWorkflow({ id: "deep-step", name: "Deep step", steps: [step, { id: "after", type: "transform", config: { output: "never" } }] });

    const http = await run({ id: "fetch", type: "http", config: { url: `${apiBase}/?levels=5000` } });
    expect(http).toMatchObject({ status: "failed", error: { code: "NESTING_LIMIT", stepId: "fetch", message: expect.stringMatching(LIMIT) } });
    expect(http.outputs).not.toHaveProperty("after");

    const code = await run({ id: "build", type: "code", config: { code: "let v = 1; for (let i = 0; i < 300; i++) v = [v]; return v;" } });
    expect(code).toMatchObject({ status: "failed", error: { code: "NESTING_LIMIT", stepId: "build", message: expect.stringMatching(/^step "build" output\[0\]\[0\]\[0\]\[0\]…: is nested more than 100 levels deep/) } });

    // The test gateway's `verbatim` model answers the prompt as it is: here JSON 300 levels deep.
    const llm = await run({ id: "ask", type: "llm", config: { model: "verbatim", prompt: nestedArrays(300), responseSchema: { type: "array" } } });
    expect(llm).toMatchObject({ status: "failed", error: { code: "LLM_INVALID_JSON", stepId: "ask", message: expect.stringMatching(LIMIT) } });

    expect(await run({ id: "fetch", type: "http", config: { url: `${apiBase}/?levels=50` } })).toMatchObject({ status: "succeeded" });
  });

  it("approval data nested too deep is refused (INVALID_INPUT); the run still takes a decision", async () => {
    const gated = { id: "gated", name: "Gated", steps: [{ id: "ok", type: "approval", config: { message: "Go?" } }] };
    const paused = await orchestrator.executeWorkflow(gated);
    expect(paused.status).toBe("waiting");
    await expect(orchestrator.approveRun(paused.runId, { data: JSON.parse(nestedArrays(20_000)) })).rejects.toMatchObject({
      code: "INVALID_INPUT",
      message: expect.stringMatching(/^the approval data is refused: data\[0\]\[0\]\[0\]\[0\]…: is nested more than 100 levels deep/),
    });
    expect(await orchestrator.approveRun(paused.runId, { data: { note: "fine" } })).toMatchObject({ status: "succeeded", outputs: { ok: { approved: true, data: { note: "fine" } } } });
  });
});
