import { describe, expect, it } from "vitest";
import { evaluateExpression, referencedStepIds, renderTemplate, renderValue } from "./expression";

const ctx = { input: { n: 2, topic: "cats" }, steps: { draft: { text: "hi", score: 0.7 }, "my-step": { v: 3 } }, vars: { n: 1 } };

describe("expressions", () => {
  it("does natural arithmetic on JSON numbers", async () => {
    expect(await evaluateExpression("vars.n + 1", ctx)).toBe(2);
    expect(await evaluateExpression("input.n * 2", ctx)).toBe(4);
  });
  it("supports member access, comparisons and boolean logic", async () => {
    expect(await evaluateExpression("steps.draft.score > 0.5 and input.topic = 'cats'", ctx)).toBe(true);
    expect(await evaluateExpression("$not(vars.n = 1) or steps.`my-step`.v >= 3", ctx)).toBe(true);
  });
  it("has no way out to the host", async () => {
    await expect(evaluateExpression("$eval('process')", ctx)).resolves.toBeUndefined();
    expect(await evaluateExpression("constructor", ctx)).toBeUndefined();
  });
});

describe("templates", () => {
  it("yields the raw value for a single placeholder", async () => {
    expect(await renderTemplate("{{ input.n * 2 }}", ctx)).toBe(4);
    expect(await renderTemplate("  {{ steps.draft }} ", ctx)).toEqual({ text: "hi", score: 0.7 });
  });
  it("interpolates text otherwise", async () => {
    expect(await renderTemplate("About {{ input.topic }}: {{ steps.draft }}", ctx)).toBe('About cats: {"text":"hi","score":0.7}');
    expect(await renderTemplate("{{ input.n }}{{ vars.n }}", ctx)).toBe("21");
  });
  it("renders nested JSON", async () => {
    expect(await renderValue({ a: ["{{ vars.n }}", { b: "x{{ input.n }}" }], c: 5 }, ctx)).toEqual({ a: [1, { b: "x2" }], c: 5 });
  });
  it("finds referenced step ids from the parsed expression", () => {
    expect(referencedStepIds("steps.draft.text & steps.`my-step`.v & input.steps")).toEqual(["draft", "my-step"]);
  });
});
