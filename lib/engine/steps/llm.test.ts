import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLlmGateway, type LlmGateway } from "@/e2e/fixtures/llm-gateway";
import { StepError } from "../errors";
import { llmExecutor } from "./llm";
import type { StepContext } from "./types";

let gateway: LlmGateway;
beforeAll(async () => {
  gateway = await startLlmGateway({ apiKey: "secret" });
});
afterAll(() => gateway.close());

function context(overrides: Partial<StepContext> = {}) {
  const tokens: string[] = [];
  const ctx: StepContext = {
    runId: "r",
    stepId: "ask",
    signal: new AbortController().signal,
    settings: { llmGatewayUrl: gateway.url, llmApiKey: "secret" },
    emitToken: (t) => void tokens.push(t),
    evaluate: async () => undefined,
    ...overrides,
  };
  return { ctx, tokens };
}

describe("llm step against the loopback test gateway", () => {
  it("streams tokens and returns text, model and usage", async () => {
    const { ctx, tokens } = context();
    const output = (await llmExecutor({ model: "test-model", prompt: "hello there world", system: "be brief" }, ctx)) as {
      text: string;
      model: string;
      usage: { promptTokens: number; completionTokens: number; totalTokens: number };
    };
    expect(output.text).toBe("Echo: hello there world");
    expect(output.model).toBe("test-model");
    expect(tokens.length).toBeGreaterThan(1);
    expect(tokens.join("")).toBe(output.text);
    expect(output.usage).toEqual({ promptTokens: 5, completionTokens: tokens.length, totalTokens: 5 + tokens.length });
    const request = gateway.requests.at(-1)!;
    expect(request.messages).toEqual([
      { role: "system", content: "be brief" },
      { role: "user", content: "hello there world" },
    ]);
    expect(request.stream).toBe(true);
  });

  it("says which variable to set when no gateway is configured", async () => {
    const { ctx } = context({ settings: {} });
    const err = (await llmExecutor({ model: "m", prompt: "x" }, ctx).catch((e: unknown) => e)) as StepError;
    expect(err).toBeInstanceOf(StepError);
    expect(err.code).toBe("LLM_NOT_CONFIGURED");
    expect(err.message).toMatch(/LLM_GATEWAY_URL/);
  });

  it("reports gateway failures with the HTTP status", async () => {
    const { ctx } = context();
    const err = (await llmExecutor({ model: "fail-500", prompt: "x" }, ctx).catch((e: unknown) => e)) as StepError;
    expect(err.code).toBe("LLM_REQUEST_FAILED");
    expect(err.message).toMatch(/HTTP 500/);
    const unauthorised = (await llmExecutor({ model: "m", prompt: "x" }, context({ settings: { llmGatewayUrl: gateway.url, llmApiKey: "wrong" } }).ctx).catch((e: unknown) => e)) as StepError;
    expect(unauthorised.message).toMatch(/HTTP 401/);
  });

  it("aborts an in-flight request when the signal fires", async () => {
    const controller = new AbortController();
    const { ctx } = context({ signal: controller.signal });
    const started = Date.now();
    const pending = llmExecutor({ model: "slow-2000", prompt: "x" }, ctx);
    setTimeout(() => controller.abort(), 100);
    await expect(pending).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(1000);
    await new Promise((r) => setTimeout(r, 50));
    expect(gateway.requests.at(-1)).toMatchObject({ model: "slow-2000", aborted: true });
  });
});
