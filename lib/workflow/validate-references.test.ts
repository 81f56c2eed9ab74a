import { describe, expect, it } from "vitest";
import { validateWorkflow } from "./validate";

/** Templates that read input fields or variables the workflow does not declare are problems at save and validate. */
const issuesOf = (raw: unknown) => validateWorkflow(raw).issues;
const transform = (id: string, output: unknown, extra: Record<string, unknown> = {}) => ({ id, type: "transform", config: { output }, ...extra });

const schema = {
  type: "object",
  properties: {
    topic: { type: "string" },
    address: { type: "object", properties: { zip: { type: "string" } } },
    meta: { type: "object" },
    open: { type: "object", properties: { a: { type: "string" } }, additionalProperties: true },
    list: { type: "array", items: { type: "object", properties: { n: { type: "number" } } } },
  },
  required: ["topic"],
};

describe("references to undeclared input fields", () => {
  it("accepts every reference when the workflow has no input schema (the seed's simple form)", () => {
    expect(
      issuesOf({
        id: "seed",
        name: "Seed",
        steps: [
          { id: "one", type: "llm", config: { prompt: "Write about {{ input.topic }} and {{ input.nosuch.deeper }}" } },
          { id: "two", type: "llm", config: { prompt: "Improve: {{ steps.one.text }}" } },
        ],
      }),
    ).toEqual([]);
  });

  it("accepts declared fields, nested and in lists", () => {
    const output = { a: "{{ input.topic }}", b: "{{ input.address.zip }}", c: "{{ input.list[0].n + $count(input.list.n) }}", d: "{{ input.meta.anything.below }}", e: "{{ input.open.other }}" };
    expect(issuesOf({ id: "w", name: "w", input: schema, steps: [transform("t", output)] })).toEqual([]);
  });

  it("reports an undeclared top-level field on the step and field, naming the expression and the fix", () => {
    const issues = issuesOf({ id: "w", name: "w", input: schema, steps: [transform("t", { x: "About {{ input.nosuch }}!" })] });
    expect(issues).toEqual([
      {
        code: "UNDECLARED_INPUT_FIELD",
        stepId: "t",
        field: "config.output.x",
        message:
          'step "t" field "config.output.x": {{ input.nosuch }} reads "input.nosuch", which the input schema does not declare (it declares topic, address, meta, open, list); declare `nosuch` in the input schema or correct the name',
      },
    ]);
  });

  it("reports an undeclared nested field where the schema lists properties without additionalProperties", () => {
    const issues = issuesOf({ id: "w", name: "w", input: schema, steps: [transform("t", { zip: "{{ input.address.zp }}", item: "{{ input.list.m }}" })] });
    expect(issues.map((i) => [i.code, i.field])).toEqual([
      ["UNDECLARED_INPUT_FIELD", "config.output.zip"],
      ["UNDECLARED_INPUT_FIELD", "config.output.item"],
    ]);
    expect(issues[0].message).toContain("declare `zp` under `address` in the input schema");
    expect(issues[1].message).toContain('reads "input.list.m"');
  });

  it("checks the top level of an object schema without properties, but not one that allows other fields", () => {
    const steps = [transform("t", "{{ input.topic }}")];
    expect(issuesOf({ id: "w", name: "w", input: { type: "object" }, steps }).map((i) => i.code)).toEqual(["UNDECLARED_INPUT_FIELD"]);
    expect(issuesOf({ id: "w", name: "w", input: { type: "object", additionalProperties: true }, steps })).toEqual([]);
    expect(issuesOf({ id: "w", name: "w", input: { type: "object", properties: {}, patternProperties: { "^t": {} } }, steps })).toEqual([]);
    expect(issuesOf({ id: "w", name: "w", input: { anyOf: [{ type: "object", properties: { topic: {} } }] }, steps })).toEqual([]);
  });

  it("does not flag dynamic access or names relative to another value", () => {
    const output = {
      dynamic: "{{ input[$k] }}",
      lookup: "{{ $lookup(input, 'nosuch') }}",
      root: "{{ $.input.nosuch }}",
      relative: "{{ steps.t2[input = 1] }}",
      keys: "{{ $keys(input) }}",
      group: "{{ input.list{ nosuch: n } }}",
    };
    expect(issuesOf({ id: "w", name: "w", input: schema, steps: [transform("t2", output)] })).toEqual([]);
  });

  it("checks conditions, assign and map item steps too", () => {
    const issues = issuesOf({
      id: "w",
      name: "w",
      input: schema,
      steps: [
        { id: "c", type: "condition", config: { expression: "input.score > 1" } },
        transform("t", 1, { assign: { label: "input.label" } }),
        { id: "m", type: "map", config: { items: "{{ input.list }}", steps: [{ id: "w", type: "llm", config: { prompt: "{{ item.n }} of {{ input.nosuch }}" } }] } },
      ],
      edges: [{ from: "c", to: "t", when: "true" }, { from: "t", to: "m" }],
    });
    expect(issues.map((i) => [i.code, i.stepId, i.field])).toEqual([
      ["UNDECLARED_INPUT_FIELD", "c", "config.expression"],
      ["UNDECLARED_INPUT_FIELD", "t", "assign.label"],
      ["UNDECLARED_INPUT_FIELD", "m", "config.steps.0.config.prompt"],
    ]);
    expect(issues[0].message).toContain('"input.score > 1" reads "input.score"');
  });

  it("reports one issue per reference and field, however often the field repeats it", () => {
    expect(issuesOf({ id: "w", name: "w", input: schema, steps: [transform("t", "{{ input.x }} {{ input.x }}")] })).toHaveLength(1);
  });
});

describe("references to undeclared variables", () => {
  it("accepts variables declared in vars or set by any step's assign (map item steps too)", () => {
    const issues = issuesOf({
      id: "w",
      name: "w",
      vars: { round: 0 },
      steps: [
        transform("a", "{{ vars.round + vars.count + vars.inner }}", { assign: { count: "{{ 1 }}" } }),
        { id: "m", type: "map", config: { items: [1], steps: [transform("i", 1, { assign: { inner: "1" } })] } },
      ],
    });
    expect(issues).toEqual([]);
  });

  it("reports a variable nothing declares, with or without an input schema", () => {
    for (const input of [undefined, schema]) {
      const issues = issuesOf({ id: "w", name: "w", ...(input ? { input } : {}), vars: { round: 0 }, steps: [transform("a", { next: "{{ vars.missing + 1 }}" })] });
      expect(issues).toEqual([
        {
          code: "UNDECLARED_VARIABLE",
          stepId: "a",
          field: "config.output.next",
          message:
            'step "a" field "config.output.next": {{ vars.missing + 1 }} reads "vars.missing", a variable the workflow does not declare (it declares round); declare `missing` in vars with its initial value (or set it in a step\'s assign) or correct the name',
        },
      ]);
    }
  });

  it("does not flag dynamic access to vars", () => {
    expect(issuesOf({ id: "w", name: "w", steps: [transform("a", "{{ $lookup(vars, 'x') & $keys(vars) & vars[$k] }}")] })).toEqual([]);
  });
});

describe("declared reads at scale", () => {
  it("checks a 2,000-step workflow: one issue per step reading an undeclared field, none once all are declared", () => {
    const steps = Array.from({ length: 2000 }, (_, i) => transform(`s${i}`, { v: `{{ input.f${i} }} {{ vars.v${i} }}` }));
    const undeclared = issuesOf({ id: "w", name: "w", input: { type: "object", properties: { topic: { type: "string" } } }, vars: {}, steps });
    expect(undeclared.filter((i) => i.code === "UNDECLARED_INPUT_FIELD")).toHaveLength(2000);
    expect(undeclared.filter((i) => i.code === "UNDECLARED_VARIABLE")).toHaveLength(2000);
    expect(new Set(undeclared.map((i) => i.stepId)).size).toBe(2000);

    const properties = Object.fromEntries(steps.map((_, i) => [`f${i}`, { type: "string" }]));
    const vars = Object.fromEntries(steps.map((_, i) => [`v${i}`, 0]));
    expect(issuesOf({ id: "w", name: "w", input: { type: "object", properties }, vars, steps })).toEqual([]);
  });

  it("follows a deeply nested schema and a long path without error", () => {
    let node: Record<string, unknown> = { type: "string" };
    for (let level = 0; level < 40; level++) node = { type: "object", properties: { a: node } };
    const deep = `input.${Array.from({ length: 40 }, () => "a").join(".")}`;
    expect(issuesOf({ id: "w", name: "w", input: node, steps: [transform("t", { v: `{{ ${deep} }}` })] })).toEqual([]);
    const wrong = issuesOf({ id: "w", name: "w", input: node, steps: [transform("t", { v: `{{ ${deep.replace(/a$/, "b")} }}` })] });
    expect(wrong).toMatchObject([{ code: "UNDECLARED_INPUT_FIELD", stepId: "t", field: "config.output.v" }]);
  });
});
