import { getEventListeners } from "node:events";
import { closedPort } from "@/e2e/fixtures/ports";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startLlmGateway, type LlmGateway } from "@/e2e/fixtures/llm-gateway";
import { StepError } from "../errors";
import { llmExecutor, type LlmOutput } from "./llm";
import type { StepContext } from "./types";
import { testStepContext } from "./test-context";

let gateway: LlmGateway;
beforeAll(async () => {
  gateway = await startLlmGateway({ apiKey: "secret" });
});
afterAll(() => gateway.close());
beforeEach(() => gateway.clearLog());

function context(overrides: Partial<StepContext> = {}) {
  return testStepContext({ stepId: "ask", settings: { llmGatewayUrl: gateway.url, llmApiKey: "secret" }, ...overrides });
}

const run = (config: Record<string, unknown>, ctx: StepContext) => llmExecutor(config, ctx) as Promise<LlmOutput>;
const failure = (config: Record<string, unknown>, ctx: StepContext) => run(config, ctx).then(
  () => expect.fail("expected the step to fail"),
  (err: unknown) => {
    expect(err).toBeInstanceOf(StepError);
    return err as StepError;
  },
);


describe("llm step against the loopback test gateway", () => {
  it("streams tokens and returns text, model and usage", async () => {
    const { ctx, tokens } = context();
    const output = await run({ model: "test-model", prompt: "hello there world", system: "be brief" }, ctx);
    expect(output.text).toBe("Echo: hello there world");
    expect(output.model).toBe("test-model");
    expect(tokens.length).toBeGreaterThan(1);
    expect(tokens.join("")).toBe(output.text);
    // 5 words across system + user messages; one completion token per streamed chunk.
    expect(output.usage).toEqual({ promptTokens: 5, completionTokens: tokens.length, totalTokens: 5 + tokens.length });
    expect(gateway.requests).toHaveLength(1);
    expect(gateway.requests[0]).toMatchObject({
      stream: true,
      messages: [
        { role: "system", content: "be brief" },
        { role: "user", content: "hello there world" },
      ],
    });
  });

  it("leaves no listener on the run's signal after its calls (the OpenAI client never removes its own)", async () => {
    const run_ = new AbortController();
    for (let i = 0; i < 12; i++) {
      const { ctx } = context({ signal: run_.signal });
      await run({ model: "test-model", prompt: `call ${i}` }, ctx);
    }
    expect(getEventListeners(run_.signal, "abort")).toHaveLength(0);
  });

  it("sends only the user message without a system prompt, and coerces rendered numeric strings", async () => {
    await run({ model: "test-model", prompt: "hi", temperature: "0.2", maxTokens: " 64 " }, context().ctx);
    expect(gateway.requests[0]).toMatchObject({ messages: [{ role: "user", content: "hi" }], temperature: 0.2, maxTokens: 64 });

    await run({ model: "test-model", prompt: "hi", temperature: 1, maxTokens: "" }, context().ctx);
    expect(gateway.requests[1]).toMatchObject({ temperature: 1 });
    expect(gateway.requests[1].maxTokens).toBeUndefined();

    const err = await failure({ model: "test-model", prompt: "hi", temperature: "warm" }, context().ctx);
    expect(err.code).toBe("STEP_FAILED");
    expect(err.message).toMatch(/temperature/);
  });

  it("always uses chat completions, even for model names LangChain would route to the Responses API", async () => {
    const output = await run({ model: "gpt-5.2-pro-codex", prompt: "still chat" }, context().ctx);
    expect(output.text).toBe("Echo: still chat");
  });

  it("uses a placeholder key when only the URL is configured", async () => {
    const open = await startLlmGateway();
    try {
      const output = await run({ model: "test-model", prompt: "no key" }, context({ settings: { llmGatewayUrl: open.url } }).ctx);
      expect(output.text).toBe("Echo: no key");
    } finally {
      await open.close();
    }
  });

  it("says which variable to set when no gateway is configured", async () => {
    const err = await failure({ model: "m", prompt: "x" }, context({ settings: {} }).ctx);
    expect(err.code).toBe("LLM_NOT_CONFIGURED");
    expect(err.message).toMatch(/LLM_GATEWAY_URL/);
  });

  it("reports a gateway 500 with its status and message as retryable, leaving retries to the step's policy", async () => {
    const err = await failure({ model: "fail-500", prompt: "x" }, context().ctx);
    expect(err.code).toBe("LLM_REQUEST_FAILED");
    expect(err.message).toMatch(/HTTP 500/);
    expect(err.message).toMatch(/scripted failure 500/);
    expect(err.message).not.toMatch(/\n|\s at /);
    expect(err.retryable).toBe(true);
    expect(gateway.requests.filter((r) => r.model === "fail-500")).toHaveLength(1);
  });

  it("does not retry a 4xx", async () => {
    const settings = { llmGatewayUrl: gateway.url, llmApiKey: "wrong" };
    const err = await failure({ model: "test-model", prompt: "x" }, context({ settings }).ctx);
    expect(err.code).toBe("LLM_REQUEST_FAILED");
    expect(err.message).toMatch(/HTTP 401.*Incorrect API key/);
    expect(err.message).not.toMatch(/Troubleshooting/);

    expect(err.retryable).toBe(false);
    const notFound = await failure({ model: "fail-404", prompt: "x" }, context().ctx);
    expect(notFound.message).toMatch(/HTTP 404/);
    expect(notFound.retryable).toBe(false);
    expect(gateway.requests.filter((r) => r.model === "fail-404")).toHaveLength(1);
  });

  it("reports an unreachable gateway", async () => {
    const url = `http://127.0.0.1:${await closedPort()}/v1`;
    const err = await failure({ model: "test-model", prompt: "x" }, context({ settings: { llmGatewayUrl: url } }).ctx);
    expect(err.code).toBe("LLM_REQUEST_FAILED");
    expect(err.message).toContain(`could not reach the LLM gateway at ${url}`);
    expect(err.message).toMatch(/ECONNREFUSED/);
    expect(err.retryable).toBe(true);
  });

  it("aborts the in-flight request when the signal fires", async () => {
    const controller = new AbortController();
    const pending = failure({ model: "slow-2000", prompt: "x" }, context({ signal: controller.signal }).ctx);
    await new Promise((r) => setTimeout(r, 100));
    const abortedAt = Date.now();
    controller.abort();
    const err = await pending;
    expect(Date.now() - abortedAt).toBeLessThan(300);
    expect(err.code).toBe("CANCELLED");
    await expect.poll(() => gateway.requests.at(-1)).toMatchObject({ model: "slow-2000", aborted: true });
    expect(gateway.requests.at(-1)!.finishedAt).toBeUndefined();
  });

  it("sends messages mode turns and stop sequences; reports the usage of each call", async () => {
    const usage: unknown[] = [];
    const { ctx } = context({ reportUsage: (u) => void usage.push(u) });
    const messages = [
      { role: "system", content: "be brief" },
      { role: "user", content: "first question" },
      { role: "assistant", content: "first answer" },
      { role: "user", content: "second question. with more" },
    ];
    const output = await run({ model: "test-model", messages, stop: ["."] }, ctx);
    expect(output.text).toBe("Echo: second question");
    expect(gateway.requests.at(-1)).toMatchObject({ messages, stop: ["."] });
    expect(usage).toEqual([{ model: "test-model", promptTokens: expect.any(Number), completionTokens: expect.any(Number), totalTokens: expect.any(Number) }]);
  });

  it("structured output: the parsed JSON matching responseSchema is the output; one retry, then a clear error", async () => {
    const schema = { type: "object", properties: { title: { type: "string" }, score: { type: "number" } }, required: ["title", "score"] };
    const { ctx } = context();
    expect(await llmExecutor({ model: "verbatim", prompt: '{"title":"owls","score":3}', responseSchema: schema }, ctx)).toEqual({ title: "owls", score: 3 });
    expect(gateway.requests.at(-1)!.messages[0]).toMatchObject({ role: "system", content: expect.stringContaining('"required":["title","score"]') });

    gateway.clearLog();
    const usage: unknown[] = [];
    const retried = context({ reportUsage: (u) => void usage.push(u) });
    expect(await llmExecutor({ model: "late-json", prompt: '{"title":"late","score":1}', responseSchema: schema }, retried.ctx)).toEqual({ title: "late", score: 1 });
    expect(gateway.requests).toHaveLength(2);
    expect(gateway.requests[1].messages.at(-1)!.content).toMatch(/not usable: not valid JSON/);
    expect(usage).toHaveLength(2);

    gateway.clearLog();
    const mismatch = await failure({ model: "verbatim", prompt: '{"title":"owls","score":"high"}', responseSchema: schema }, context().ctx);
    expect(mismatch.code).toBe("LLM_INVALID_JSON");
    expect(mismatch.message).toMatch(/output\.score: must be number/);
    expect(gateway.requests).toHaveLength(2);
  });

  it("uses the default model from Settings when the step names none, and says what to set when there is none", async () => {
    const { ctx } = context({ settings: { llmGatewayUrl: gateway.url, llmApiKey: "secret", defaultModel: "test-model" } });
    expect(await run({ prompt: "hi" }, ctx)).toMatchObject({ model: "test-model", text: "Echo: hi" });
    const none = await failure({ prompt: "hi" }, context().ctx);
    expect(none.code).toBe("LLM_NOT_CONFIGURED");
    expect(none.message).toMatch(/default model on the Settings page/);
  });
});
