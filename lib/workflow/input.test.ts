import { describe, expect, it } from "vitest";
import { compileJsonSchema, schemaProblems, validateRunInput } from "./input";
import type { WorkflowDefinition } from "./schema";

const withInput = (input: Record<string, unknown>): WorkflowDefinition => ({ id: "w", name: "w", input, steps: [{ id: "a", type: "transform", config: { output: 1 } }] });

describe("JSON Schema checks", () => {
  it("fills defaults and names the field of each problem", () => {
    const def = withInput({ type: "object", properties: { topic: { type: "string" }, n: { type: "number", default: 3 } }, required: ["topic"] });
    expect(validateRunInput(def, { topic: "x" })).toEqual({ input: { topic: "x", n: 3 }, issues: [] });
    expect(validateRunInput(def, { n: "no" }).issues).toEqual([
      { code: "INVALID_INPUT", field: "input.topic", message: "input.topic: is required" },
      { code: "INVALID_INPUT", field: "input.n", message: "input.n: must be number" },
    ]);
  });

  it("checks a schema with an $id on every run, not only the first (each run parses its definition afresh)", () => {
    const schema = () => ({ $id: "https://example.com/ticket.json", type: "object", properties: { id: { type: "integer" } }, required: ["id"] });
    for (let run = 0; run < 3; run++) {
      expect(validateRunInput(withInput(schema()), { id: 1 }).issues).toEqual([]);
      expect(schemaProblems(schema(), { id: "x" }, "output")).toEqual(["output.id: must be integer"]);
    }
  });

  it("compiles equal schemas once, whatever object they arrive in", () => {
    const a = compileJsonSchema({ type: "object", properties: { q: { type: "string", minLength: 2 } } });
    const b = compileJsonSchema({ type: "object", properties: { q: { type: "string", minLength: 2 } } });
    expect(b).toBe(a);
    expect(compileJsonSchema({ type: "object", properties: { q: { type: "string", minLength: 3 } } })).not.toBe(a);
  });

  it("throws for an invalid schema, and keeps working afterwards", () => {
    expect(() => compileJsonSchema({ type: "no-such-type" })).toThrow();
    expect(schemaProblems({ type: "string" }, 5, "data")).toEqual(["data: must be string"]);
  });
});
