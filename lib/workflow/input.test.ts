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

describe("unsafe input values", () => {
  const open: WorkflowDefinition = { id: "w", name: "w", steps: [{ id: "a", type: "transform", config: { output: 1 } }] };

  it("refuses numbers that are not finite, naming the field: 1e400 from JSON, NaN and Infinity from the API", () => {
    expect(validateRunInput(open, JSON.parse('{"scores":[1,2,1e400]}')).issues).toEqual([
      {
        code: "INVALID_VALUE",
        field: "input",
        message: "input.scores[2]: Infinity is not a finite number (NaN, Infinity and numbers beyond ±1.8e308 such as 1e400 cannot be stored); write a finite number",
      },
    ]);
    expect(validateRunInput(open, { a: { b: NaN } }).issues[0].message).toMatch(/^input\.a\.b: NaN is not a finite number/);
    expect(validateRunInput(open, -Infinity).issues[0].message).toMatch(/^input: -Infinity is not a finite number/);
    // A schema that declares numbers does not let them through either.
    const typed = { ...open, input: { type: "object", properties: { n: { type: "number" } } } };
    expect(validateRunInput(typed, { n: Infinity }).issues).toHaveLength(1);
    expect(validateRunInput(typed, { n: 1e308 }).issues).toEqual([]);
  });

  it("refuses a __proto__ key anywhere in the input, and nothing is polluted", () => {
    const input = JSON.parse('{"user":{"__proto__":{"isAdmin":true}}}');
    expect(validateRunInput(open, input).issues).toEqual([
      { code: "INVALID_VALUE", field: "input", message: 'input.user.__proto__: "__proto__" is not allowed as a field name (it would change the object\'s prototype); rename the field' },
    ]);
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
    expect(validateRunInput(open, { constructor: 1, prototype: 2 }).issues).toEqual([]); // plain data keys
  });
});

