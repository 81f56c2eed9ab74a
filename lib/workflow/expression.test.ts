import { describe, expect, it } from "vitest";
import { ExpressionError, MAX_EXPRESSION_LENGTH, parseExpressions, referencedStepIds, templateExpressions } from "./expression";

describe("expressions (parsing)", () => {
  it("finds referenced step ids from the parsed expression", () => {
    expect(referencedStepIds("steps.draft.text & steps.`my-step`.v & input.steps")).toEqual(["draft", "my-step"]);
  });
  it("lists the expressions of a template's placeholders", () => {
    expect(templateExpressions("About {{ input.topic }}: {{steps.draft}}")).toEqual(["input.topic", "steps.draft"]);
  });
  it("refuses an expression too long or too deeply nested to parse, with a clear error", () => {
    expect(() => referencedStepIds("1+".repeat(MAX_EXPRESSION_LENGTH / 2) + "1")).toThrow(/more than the limit of 20000/);
    const nested = "(".repeat(9000) + "1" + ")".repeat(9000);
    expect(() => referencedStepIds(nested)).toThrow(ExpressionError);
    expect(() => referencedStepIds(nested)).toThrow(/nested too deeply|invalid expression/);
    expect(() => referencedStepIds("[".repeat(5000) + "]".repeat(5000))).toThrow(ExpressionError);
  });

  it("parses many expressions in one parser call, and still judges each one alone", () => {
    const good = Array.from({ length: 2500 }, (_, i) => `steps.s${i}.n + ${i}`);
    // Each of these is wrong alone but could pass inside a batch if its text reached into its neighbours'.
    const bad = ["1) & (2", "1), (2", "a; b", "/* open", '"open', "1 +", ")"];
    const mixed = [...good.slice(0, 1200), ...bad, ...good.slice(1200)];
    const parsed = parseExpressions(mixed);
    for (const [i, expression] of good.entries()) expect(parsed.get(expression), expression).toEqual({ steps: [`s${i}`], input: [], vars: [] });
    for (const expression of bad) expect(parsed.get(expression), expression).toBeInstanceOf(ExpressionError);
    expect((parsed.get("1 +") as ExpressionError).message).toMatch(/^invalid expression "1 \+": /);
  });
});
