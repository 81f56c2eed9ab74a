import { describe, expect, it } from "vitest";
import { linearChain, mixedWorkflow } from "@/e2e/fixtures/large-workflows";
import { validateWorkflow, validateWorkflowInSlices } from "./validate";
import { validateRunInput } from "./input";
import { readySteps, buildGraph } from "./graph";
import { MAX_DEFINITION_BYTES, MAX_STEPS } from "./schema";

const codes = (raw: unknown) => validateWorkflow(raw).issues.map((i) => [i.code, i.stepId, i.field]);

describe("validateWorkflow", () => {
  it("accepts the seed's simple form (steps in order, no edges, no schemaVersion)", () => {
    const { definition, issues } = validateWorkflow({
      id: "seed",
      name: "Seed",
      steps: [
        { id: "one", type: "llm", config: { prompt: "Write about {{ input.topic }}", model: "gpt-4o-mini" } },
        { id: "two", type: "llm", config: { prompt: "Improve: {{ steps.one.text }}", model: "gpt-4o-mini" } },
      ],
    });
    expect(issues).toEqual([]);
    expect(definition?.steps).toHaveLength(2);
  });

  it("reports unknown step types with the step id and field", () => {
    expect(codes({ id: "w", name: "w", steps: [{ id: "a", type: "telepathy", config: {} }] })).toEqual([["UNKNOWN_STEP_TYPE", "a", "type"]]);
  });

  it("refuses step ids that JavaScript objects treat specially, and overlong ones, naming the field", () => {
    for (const id of ["__proto__", "constructor", "prototype", "x".repeat(201)]) {
      const issues = validateWorkflow({ id: "w", name: "w", steps: [{ id, type: "transform", config: { output: 1 } }] }).issues;
      expect(issues, id).toEqual([expect.objectContaining({ code: "INVALID_FIELD", field: "id" })]);
    }
    expect(codes({ id: "w", name: "w", steps: [{ id: "_proto", type: "transform", config: { output: 1 } }] })).toEqual([]);
  });

  it("restricts workflow ids to letters, digits, _, - and inner dots (128 at most), naming the field and the pattern", () => {
    const step = { id: "a", type: "transform", config: { output: 1 } };
    for (const id of ["wf_1a2b3c", "support-triage", "team.triage-v2", "_draft", "42", "x".repeat(128)])
      expect(validateWorkflow({ id, name: "w", steps: [step] }).issues, id).toEqual([]);
    for (const id of ["__proto__", "constructor", "prototype", "../etc", "a/b", "a\\b", ".", "..", ".hidden", "a..b", "with space", "ünï", "-x", "", "x".repeat(129)]) {
      const issues = validateWorkflow({ id, name: "w", steps: [step] }).issues;
      expect(issues, id).toEqual([expect.objectContaining({ code: "INVALID_FIELD", field: "id" })]);
      expect(issues[0].message, id).toMatch(/^id: /);
    }
    expect(validateWorkflow({ id: "a b", name: "w", steps: [step] }).issues[0].message).toBe("id: use letters, digits, _, - and . (not first, no ..), at most 128 characters, e.g. support-triage (pattern ^(?!.*\\.\\.)[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$)");
  });

  it("refuses variables named __proto__, constructor or prototype (in vars and as assign targets), so no prototype becomes data", () => {
    const step = { id: "a", type: "transform", config: { output: 1 } };
    // From JSON text, as a file or a request carries it: JSON.parse makes "__proto__" an own key, which zod would drop unseen.
    const fromJson = validateWorkflow(JSON.parse('{"id":"w","name":"w","vars":{"__proto__":{"polluted":true}},"steps":[{"id":"a","type":"transform","config":{"output":1}}]}'));
    expect(fromJson.issues).toEqual([expect.objectContaining({ code: "INVALID_FIELD", field: "vars.__proto__", message: expect.stringContaining('"__proto__" is not allowed as a field name') })]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    for (const name of ["constructor", "prototype"]) {
      expect(codes({ id: "w", name: "w", vars: { [name]: 1 }, steps: [step] }), name).toEqual([["INVALID_FIELD", undefined, `vars.${name}`]]);
      expect(codes({ id: "w", name: "w", steps: [{ ...step, assign: { [name]: "output" } }] }), name).toEqual([["INVALID_FIELD", "a", `assign.${name}`]]);
    }
    const inConfig = validateWorkflow(JSON.parse('{"id":"w","name":"w","steps":[{"id":"a","type":"transform","config":{"output":{"x":{"__proto__":{"admin":true}}}}}]}'));
    expect(inConfig.issues).toEqual([expect.objectContaining({ stepId: "a", field: "config.output.x.__proto__" })]);
  });

  it("refuses numbers that are not finite (1e400 in JSON, NaN or Infinity from the API), naming the step and field", () => {
    const inConfig = validateWorkflow(JSON.parse('{"id":"w","name":"w","steps":[{"id":"a","type":"transform","config":{"output":{"big":1e400}}}]}'));
    expect(inConfig.issues).toEqual([
      {
        code: "INVALID_FIELD",
        stepId: "a",
        field: "config.output.big",
        message: 'step "a" field "config.output.big": Infinity is not a finite number (NaN, Infinity and numbers beyond ±1.8e308 such as 1e400 cannot be stored); write a finite number',
      },
    ]);
    expect(codes({ id: "w", name: "w", vars: { n: [1, NaN] }, steps: [{ id: "a", type: "transform", config: { output: 1 } }] })).toEqual([["INVALID_FIELD", undefined, "vars.n[1]"]]);
    expect(codes({ id: "w", name: "w", limits: { maxIterations: -Infinity }, steps: [{ id: "a", type: "transform", config: { output: 1 } }] })).toEqual([["INVALID_FIELD", undefined, "limits.maxIterations"]]);
    expect(codes({ id: "w", name: "w", steps: [{ id: "a", type: "transform", config: { output: 1 }, position: { x: NaN, y: 0 } }] })).toEqual([["INVALID_FIELD", "a", "position.x"]]);
  });

  it("reports duplicate ids", () => {
    const t = { type: "transform", config: { output: 1 } };
    expect(codes({ id: "w", name: "w", steps: [{ id: "a", ...t }, { id: "a", ...t }] })).toContainEqual(["DUPLICATE_STEP_ID", "a", "id"]);
  });

  it("reports edges to unknown steps and unreachable steps", () => {
    const t = { type: "transform", config: { output: 1 } };
    const issues = validateWorkflow({
      id: "w",
      name: "w",
      steps: [{ id: "a", ...t }, { id: "b", ...t }, { id: "c", ...t }],
      edges: [{ from: "a", to: "ghost" }, { from: "b", to: "c" }, { from: "c", to: "b" }],
    }).issues;
    expect(issues).toContainEqual(expect.objectContaining({ code: "UNKNOWN_EDGE_STEP", edgeIndex: 0, field: "to" }));
    expect(issues.filter((i) => i.code === "UNREACHABLE_STEP").map((i) => i.stepId).sort()).toEqual(["b", "c"]);
  });

  it("reports `when` on an edge that does not leave a condition step", () => {
    const t = { type: "transform", config: { output: 1 } };
    expect(codes({ id: "w", name: "w", steps: [{ id: "a", ...t }, { id: "b", ...t }], edges: [{ from: "a", to: "b", when: "true" }] })).toEqual([
      ["WHEN_ON_NON_CONDITION", "a", "when"],
    ]);
  });

  it("checks error routing: `when: error` needs onError route, and route needs an error edge", () => {
    const t = { type: "transform", config: { output: 1 } };
    expect(codes({ id: "w", name: "w", steps: [{ id: "a", ...t }, { id: "b", ...t }], edges: [{ from: "a", to: "b", when: "error" }] })).toEqual([
      ["WHEN_ERROR_WITHOUT_ROUTE", "a", "when"],
    ]);
    expect(codes({ id: "w", name: "w", steps: [{ id: "a", ...t, onError: "route" }, { id: "b", ...t }], edges: [{ from: "a", to: "b" }] })).toEqual([
      ["ROUTE_WITHOUT_ERROR_EDGE", "a", "onError"],
    ]);
    expect(
      codes({ id: "w", name: "w", steps: [{ id: "a", ...t, onError: "route", retry: { maxAttempts: 2 }, timeoutMs: 100 }, { id: "b", ...t }], edges: [{ from: "a", to: "b", when: "error" }] }),
    ).toEqual([]);
  });

  it("reports missing required config naming the field", () => {
    expect(codes({ id: "w", name: "w", steps: [{ id: "ask", type: "llm", config: { model: "m" } }] })).toEqual([
      ["MISSING_CONFIG", "ask", "config.prompt"],
    ]);
    expect(codes({ id: "w", name: "w", steps: [{ id: "c", type: "condition", config: {} }] })).toEqual([["MISSING_CONFIG", "c", "config.expression"]]);
  });

  it("reports template references to steps that do not exist and invalid expressions", () => {
    const issues = validateWorkflow({
      id: "w",
      name: "w",
      steps: [
        { id: "a", type: "transform", config: { output: { x: "{{ steps.nope.text }}", y: "{{ 1 + }}" } } },
        { id: "c", type: "condition", config: { expression: "steps.a.x >" } },
      ],
    }).issues;
    expect(issues).toContainEqual(expect.objectContaining({ code: "UNKNOWN_STEP_REFERENCE", stepId: "a", field: "config.output.x" }));
    expect(issues).toContainEqual(expect.objectContaining({ code: "INVALID_EXPRESSION", stepId: "a", field: "config.output.y" }));
    expect(issues).toContainEqual(expect.objectContaining({ code: "INVALID_EXPRESSION", stepId: "c", field: "config.expression" }));
  });

  it("reports schema problems on the offending step", () => {
    const issues = validateWorkflow({ id: "w", name: "w", steps: [{ id: "bad id!", type: "transform", config: {} }] }).issues;
    expect(issues[0]).toMatchObject({ code: "INVALID_FIELD", stepId: "bad id!", field: "id" });
  });
});

describe("nesting limit (ORCHESTRATOR_MAX_JSON_DEPTH, default 100)", () => {
  /** JSON text nested `levels` objects deep, parsed as the CLI and the save action parse definitions. */
  const nested = (levels: number) => JSON.parse(`${'{"a":'.repeat(levels)}"x"${"}".repeat(levels)}`);
  const LIMIT_TEXT = "is nested more than 100 levels deep (the nesting limit, ORCHESTRATOR_MAX_JSON_DEPTH); flatten it";

  it("refuses a config nested 5,000 levels with one issue naming the step and field, before anything recursive walks it", () => {
    const raw = { id: "w", name: "w", steps: [{ id: "ok", type: "transform", config: { output: 1 } }, { id: "deep", type: "transform", config: { output: nested(5000) } }] };
    expect(validateWorkflow(raw)).toEqual({
      issues: [{ code: "NESTING_LIMIT", stepId: "deep", field: "config.output", message: `step "deep" field "config.output" (at config.output.a.a…): ${LIMIT_TEXT}` }],
    });
  });

  it("names the top-level field for vars and the input schema, the outputSchema; a map's inner steps by the outer step", () => {
    expect(validateWorkflow({ id: "w", name: "w", vars: { v: nested(3000) }, steps: [] }).issues).toEqual([
      { code: "NESTING_LIMIT", field: "vars", message: `vars.v.a.a…: ${LIMIT_TEXT}` },
    ]);
    expect(codes({ id: "w", name: "w", input: nested(200), steps: [] })).toEqual([["NESTING_LIMIT", undefined, "input"]]);
    const map = { id: "m", type: "map", config: { items: [1], steps: [{ id: "t", type: "transform", config: { output: nested(120) } }] } };
    expect(codes({ id: "w", name: "w", steps: [map] })).toEqual([["NESTING_LIMIT", "m", "config.steps"]]);
    expect(codes({ id: "w", name: "w", steps: [{ id: "a", type: "transform", outputSchema: nested(500), config: {} }] })).toEqual([["NESTING_LIMIT", "a", "outputSchema"]]);
  });

  it("counts the whole document: a config value may use the levels the definition leaves it", () => {
    // definition → steps → step → config → output: 4 levels before the value itself.
    const at = (levels: number) => ({ id: "w", name: "w", steps: [{ id: "t", type: "transform", config: { output: nested(levels) } }] });
    expect(validateWorkflow(at(96)).issues).toEqual([]);
    expect(codes(at(97))).toEqual([["NESTING_LIMIT", "t", "config.output"]]);
  });

  it("lets a deep but allowed input JSON Schema compile (Ajv recurses per level)", () => {
    let schema: Record<string, unknown> = { type: "string" };
    for (let i = 0; i < 48; i++) schema = { type: "object", properties: { a: schema } };
    expect(validateWorkflow({ id: "w", name: "w", input: schema, steps: [{ id: "t", type: "transform", config: { output: 1 } }] }).issues).toEqual([]);
  });
});

describe("validateRunInput", () => {
  const def = {
    id: "w",
    name: "w",
    input: { type: "object", properties: { topic: { type: "string" }, n: { type: "number", default: 3 } }, required: ["topic"] },
    steps: [],
  };
  it("names the missing or wrong field", () => {
    expect(validateRunInput(def, {}).issues[0].message).toBe("input.topic: is required");
    expect(validateRunInput(def, { topic: 5 }).issues[0].message).toBe("input.topic: must be string");
  });
  it("fills defaults", () => {
    expect(validateRunInput(def, { topic: "x" })).toEqual({ input: { topic: "x", n: 3 }, issues: [] });
  });
  it("refuses input nested 20,000 levels naming the nesting limit, instead of overflowing the stack", () => {
    const deep = JSON.parse(`${"[".repeat(20_000)}${"]".repeat(20_000)}`);
    expect(validateRunInput(def, deep).issues).toEqual([
      { code: "NESTING_LIMIT", field: "input", message: "input[0][0][0][0]…: is nested more than 100 levels deep (the nesting limit, ORCHESTRATOR_MAX_JSON_DEPTH); flatten it" },
    ]);
    expect(validateRunInput({ ...def, input: undefined }, deep).issues).toHaveLength(1);
  });
});

describe("readySteps (join rule)", () => {
  const graph = buildGraph({
    steps: ["a", "b", "b2", "j"].map((id) => ({ id, type: "transform", config: {} })),
    edges: [
      { from: "a", to: "j" },
      { from: "b", to: "b2" },
      { from: "b2", to: "j" },
    ],
  });
  it("holds a join while a longer lane can still reach it", () => {
    expect(readySteps(graph, ["j", "b2"])).toEqual(["b2"]);
    expect(readySteps(graph, ["j"])).toEqual(["j"]);
  });
});

/** How long `work` takes, and the longest time the event loop went without a turn meanwhile. */
async function eventLoopGaps(work: () => unknown) {
  let last = performance.now();
  let longest = 0;
  let turns = 0;
  let running = true;
  const tick = () => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
    turns++;
    if (running) setTimeout(tick, 0);
  };
  setTimeout(tick, 0);
  await new Promise((resolve) => setTimeout(resolve, 5));
  const started = performance.now();
  const result = await work();
  const durationMs = performance.now() - started;
  running = false;
  await new Promise((resolve) => setTimeout(resolve, 5));
  return { result, durationMs, longest, turns };
}

describe("validation of large definitions (issue 9)", () => {
  it("takes time linear in the size: 10,000 steps against 1,000 in the same test", () => {
    // Each definition has ids (so expressions) of its own: nothing comes from the expression cache.
    let variant = 0;
    const timed = (size: number) => {
      const definition = mixedWorkflow(size, `v${variant++}_`);
      const started = performance.now();
      const { issues } = validateWorkflow(definition);
      expect(issues).toEqual([]);
      return performance.now() - started;
    };
    timed(1000); // warm-up (JIT)
    const best = (size: number) => Math.min(timed(size), timed(size));
    const small = best(1000);
    const large = best(10_000);
    // Linear is 10×; before, all-pairs reachability made it 70× (23 s at 10,000 steps).
    expect(large / small).toBeLessThan(20);
  });

  it("validates in slices, giving the event loop back, so a large save does not hold other requests", async () => {
    // 30,000 steps: long enough in one go (~0.6 s) that the longest turn-less stretch of the sliced run (a slice,
    // or a pause of the collector or of a loaded machine) stands apart from it.
    const whole = await eventLoopGaps(() => validateWorkflow(mixedWorkflow(30_000, "whole_")));
    const sliced = await eventLoopGaps(() => validateWorkflowInSlices(mixedWorkflow(30_000, "sliced_")));
    expect((sliced.result as { issues: unknown[] }).issues).toEqual([]);
    expect(whole.longest).toBeGreaterThanOrEqual(whole.durationMs * 0.9); // held the loop all along
    expect(sliced.longest).toBeLessThan(whole.durationMs / 4);
    expect(sliced.turns).toBeGreaterThanOrEqual(Math.floor(sliced.durationMs / 50)); // a turn at least every 50 ms
  });

  it("gives the same definition and issues in slices as in one go", async () => {
    const bad = { id: "w", name: "w", steps: [{ id: "a", type: "transform", config: { output: "{{ steps.nope }}" } }, { id: "b id", type: "transform" }], edges: [{ from: "a" }] };
    expect(await validateWorkflowInSlices(bad)).toEqual(validateWorkflow(bad));
    const good = linearChain(50);
    expect(await validateWorkflowInSlices(good)).toEqual(validateWorkflow(good));
    expect(validateWorkflow(good).definition).toEqual({ ...good, steps: good.steps.map((step) => ({ ...step })) });
  });

  it("refuses a definition over the step or byte limit, naming the limit", () => {
    const tooMany = { id: "w", name: "w", steps: Array.from({ length: MAX_STEPS + 1 }, (_, i) => ({ id: `s${i}`, type: "transform", config: {} })) };
    const steps = validateWorkflow(tooMany).issues;
    expect(steps).toEqual([expect.objectContaining({ code: "DEFINITION_TOO_LARGE", field: "steps" })]);
    expect(steps[0].message).toContain(`limit of ${MAX_STEPS.toLocaleString("en-US")}`);

    const text = (chars: number, char = "x") => ({ id: "w", name: "w", steps: [{ id: "a", type: "transform", config: { output: char.repeat(chars) } }] });
    const bytes = validateWorkflow(text(MAX_DEFINITION_BYTES)).issues;
    expect(bytes).toEqual([expect.objectContaining({ code: "DEFINITION_TOO_LARGE" })]);
    expect(bytes[0].message).toMatch(/limit of 16\.0 MB/);
    // Bytes of UTF-8, not characters: "é" takes two.
    expect(validateWorkflow(text(MAX_DEFINITION_BYTES / 2, "é")).issues[0]?.code).toBe("DEFINITION_TOO_LARGE");
    expect(validateWorkflow(text(MAX_DEFINITION_BYTES / 4, "é")).issues).toEqual([]);
  });

});

describe("concurrency setting", () => {
  const base = { id: "w", name: "w", steps: [{ id: "a", type: "transform", config: { output: 1 } }] };
  const issuesOf = (concurrency: unknown, extra: Record<string, unknown> = {}) => validateWorkflow({ ...base, ...extra, concurrency }).issues.map((i) => [i.code, i.field, i.message]);

  it("takes a limit from 1 to 1000 and an optional key over the input; the simple form stays valid", () => {
    expect(validateWorkflow(base).issues).toEqual([]);
    expect(issuesOf({ limit: 1 })).toEqual([]);
    expect(issuesOf({ limit: 1000, key: "input.customerId" })).toEqual([]);
    expect(issuesOf({ limit: 2, key: "vars.tenant & '/' & input.region" }, { vars: { tenant: "t1" } })).toEqual([]);
    expect(validateWorkflow({ ...base, concurrency: { limit: 3, key: "  input.customerId " } }).definition?.concurrency).toEqual({ limit: 3, key: "input.customerId" });
  });

  it("refuses limits out of range and bad keys, naming the field", () => {
    for (const limit of [0, -1, 1001, 1.5, "2", null])
      expect(issuesOf({ limit }), String(limit)).toEqual([["INVALID_FIELD", "concurrency.limit", expect.stringMatching(/^concurrency\.limit: .*(1 to 1000|at least 1|at most 1000)/)]]);
    expect(issuesOf({ key: "input.x" })).toEqual([["INVALID_FIELD", "concurrency.limit", expect.stringContaining("concurrency.limit")]]);
    expect(issuesOf({ limit: 1, key: "" })).toEqual([["INVALID_FIELD", "concurrency.key", "concurrency.key: may not be empty: leave it out for one limit over all runs of the workflow"]]);
    expect(issuesOf({ limit: 1, key: "x".repeat(1001) })).toEqual([["INVALID_FIELD", "concurrency.key", "concurrency.key: is at most 1000 characters"]]);
    expect(issuesOf({ limit: 1, key: "input.(" })).toEqual([["INVALID_EXPRESSION", "concurrency.key", expect.stringMatching(/^concurrency\.key: .*write an expression over the input/)]]);
    expect(issuesOf({ limit: 1, key: "steps.a.output" })).toEqual([["INVALID_CONCURRENCY_KEY", "concurrency.key", expect.stringContaining('reads "steps.a", but the key is computed before any step runs')]]);
    expect(issuesOf({ limit: 1, key: "secrets.TOKEN" })).toEqual([["INVALID_SECRET_REFERENCE", "concurrency.key", "concurrency.key: may not read secrets: the key is stored and shown with the run"]]);
    expect(issuesOf({ limit: 1, key: "vars.missing" })).toEqual([["UNDECLARED_VARIABLE", "concurrency.key", expect.stringContaining('reads "vars.missing"')]]);
    const schema = { type: "object", properties: { customerId: { type: "string" } } };
    expect(issuesOf({ limit: 1, key: "input.custId" }, { input: schema })).toEqual([["UNDECLARED_INPUT_FIELD", "concurrency.key", expect.stringContaining('reads "input.custId", which the input schema does not declare (it declares customerId)')]]);
    expect(issuesOf({ limit: 1, key: "input.customerId" }, { input: schema })).toEqual([]);
  });
});
