import { describe, expect, it } from "vitest";
import { ExpressionEvaluator } from "@/lib/engine/expressions";
import { estimateCost } from "./estimate";
import type { ExpressionContext } from "./expression";
import type { WorkflowDefinition } from "./schema";

const render = (value: unknown, context: ExpressionContext) => new ExpressionEvaluator(context, { stepId: "estimate" }).renderValue(value, "config");
const prices = (model: string) => (model === "gpt-4o-mini" ? { inputPerMillion: 0.15, outputPerMillion: 0.6 } : undefined);

describe("cost estimate", () => {
  it("prices the rendered prompts of llm steps, per map item, and names models without a price", async () => {
    const definition: WorkflowDefinition = {
      id: "w",
      name: "w",
      steps: [
        { id: "a", type: "llm", config: { model: "gpt-4o-mini", prompt: "Summarise {{ input.text }}", maxTokens: 100 } },
        {
          id: "m",
          type: "map",
          config: { items: "{{ input.topics }}", steps: [{ id: "x", type: "llm", config: { model: "local-llama", prompt: "about {{ item }}" } }] },
        },
        { id: "t", type: "transform", config: { output: "{{ steps.a.text }}" } },
      ],
    } as WorkflowDefinition;
    const text = "word ".repeat(400); // 2000 characters ≈ 500 tokens
    const estimate = await estimateCost(definition, { text, topics: ["a", "b", "c"] }, prices, render);
    expect(estimate.calls).toBe(4);
    const promptA = Math.ceil(`Summarise ${text}`.length / 4);
    expect(estimate.promptTokens).toBe(promptA + 3 * Math.ceil("about a".length / 4));
    expect(estimate.completionTokens).toBe(100 + 3 * 256);
    expect(estimate.costUsd).toBeCloseTo((promptA * 0.15 + 100 * 0.6) / 1e6, 12);
    expect(estimate.unpricedModels).toEqual(["local-llama"]);
  });
});
