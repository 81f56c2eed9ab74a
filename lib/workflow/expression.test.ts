import { describe, expect, it } from "vitest";
import { compileExpression, ExpressionError, MAX_EXPRESSION_LENGTH, referencedStepIds, templateExpressions } from "./expression";

describe("expressions (parsing)", () => {
  it("finds referenced step ids from the parsed expression", () => {
    expect(referencedStepIds("steps.draft.text & steps.`my-step`.v & input.steps")).toEqual(["draft", "my-step"]);
  });
  it("lists the expressions of a template's placeholders", () => {
    expect(templateExpressions("About {{ input.topic }}: {{steps.draft}}")).toEqual(["input.topic", "steps.draft"]);
  });
  it("refuses an expression too long or too deeply nested to parse, with a clear error", () => {
    expect(() => compileExpression("1+".repeat(MAX_EXPRESSION_LENGTH / 2) + "1")).toThrow(/more than the limit of 20000/);
    const nested = "(".repeat(9000) + "1" + ")".repeat(9000);
    expect(() => compileExpression(nested)).toThrow(ExpressionError);
    expect(() => compileExpression(nested)).toThrow(/nested too deeply|invalid expression/);
    expect(() => referencedStepIds("[".repeat(5000) + "]".repeat(5000))).toThrow(ExpressionError);
  });
});
