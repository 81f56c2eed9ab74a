import { MemorySaver } from "@langchain/langgraph";
import { describe, expect, it } from "vitest";
import type { WorkflowDefinition, WorkflowStep } from "@/lib/workflow/schema";
import { compileWorkflow, stepsReadBy, type EngineHooks } from "./compile";
import { OrchestratorError } from "./errors";

/** Runs a definition through the real compiled LangGraph graph and records the order steps ran in. */
async function run(def: WorkflowDefinition, input: unknown = {}) {
  const order: string[] = [];
  const hooks: EngineHooks = {
    runId: "test",
    settings: {},
    onStepStart: (step) => void order.push(step.id),
  };
  const compiled = compileWorkflow(def, hooks, new MemorySaver());
  const state = await compiled.graph.invoke(
    { input, vars: def.vars ?? {} },
    { configurable: { thread_id: `t-${Math.random()}` }, recursionLimit: compiled.recursionLimit },
  );
  return { order, outputs: compiled.outputsOf(state), vars: state.vars as Record<string, unknown> };
}

const t = (id: string, output: unknown, extra: object = {}) => ({ id, type: "transform", config: { output }, ...extra });

describe("compileWorkflow", () => {
  it("runs the simple form's steps in order and passes outputs along", async () => {
    const { order, outputs } = await run(
      { id: "w", name: "w", steps: [t("a", { n: "{{ input.n * 2 }}" }), t("b", "{{ steps.a.n + 1 }}"), t("c", "total {{ steps.b }}")] },
      { n: 5 },
    );
    expect(order).toEqual(["a", "b", "c"]);
    expect(outputs).toEqual({ a: { n: 10 }, b: 11, c: "total 11" });
  });

  it("joins parallel lanes of different lengths once, after every lane, seeing all outputs", async () => {
    const { order, outputs } = await run({
      id: "w",
      name: "w",
      steps: [t("start", 1), t("short", "s"), t("long1", "l1"), t("long2", "{{ steps.long1 }}-l2"), t("join", "{{ steps.short & '+' & steps.long2 }}")],
      edges: [
        { from: "start", to: "short" },
        { from: "start", to: "long1" },
        { from: "long1", to: "long2" },
        { from: "short", to: "join" },
        { from: "long2", to: "join" },
      ],
    });
    expect(order.filter((s) => s === "join")).toHaveLength(1);
    expect(order.indexOf("join")).toBe(order.length - 1);
    expect(outputs.join).toBe("s+l1-l2");
  });

  it("after a condition, runs a step reached from both branches once, with the branch taken", async () => {
    const def = (score: number): WorkflowDefinition => ({
      id: "w",
      name: "w",
      steps: [
        { id: "check", type: "condition", config: { expression: "input.score > 0.5" } },
        t("high", "high"),
        t("low", "low"),
        t("merge", "{{ $exists(steps.high) ? steps.high : steps.low }}"),
      ],
      edges: [
        { from: "check", to: "high", when: "true" },
        { from: "check", to: "low", when: "false" },
        { from: "high", to: "merge" },
        { from: "low", to: "merge" },
      ],
    });
    const hi = await run(def(0), { score: 0.9 });
    expect(hi.order).toEqual(["check", "high", "merge"]);
    expect(hi.outputs.merge).toBe("high");
    const lo = await run(def(0), { score: 0.1 });
    expect(lo.order).toEqual(["check", "low", "merge"]);
    expect(lo.outputs.merge).toBe("low");
  });

  it("loops with vars and assign until the condition turns false", async () => {
    const { order, vars, outputs } = await run({
      id: "w",
      name: "w",
      vars: { n: 0 },
      steps: [
        t("inc", "{{ vars.n + 1 }}", { assign: { n: "{{ output }}" } }),
        { id: "more", type: "condition", config: { expression: "vars.n < 3" } },
        t("done", "{{ vars.n }}"),
      ],
      edges: [
        { from: "inc", to: "more" },
        { from: "more", to: "inc", when: "true" },
        { from: "more", to: "done", when: "false" },
      ],
    });
    expect(order).toEqual(["inc", "more", "inc", "more", "inc", "more", "done"]);
    expect(vars.n).toBe(3);
    expect(outputs.done).toBe(3);
  });

  it("fails an endless loop with LOOP_LIMIT at the workflow's limit", async () => {
    const def: WorkflowDefinition = {
      id: "w",
      name: "w",
      limits: { maxStepExecutions: 7 },
      steps: [t("a", 1), t("b", 2)],
      edges: [
        { from: "a", to: "b" },
        { from: "b", to: "a" },
      ],
    };
    const err = await run(def).catch((e) => e);
    expect(err).toBeInstanceOf(OrchestratorError);
    expect(err.code).toBe("LOOP_LIMIT");
    expect(err.message).toMatch(/limit of 7 step executions/);
    expect(err.stepId).toBe("b"); // a, b, a, b, a, b, a ran; the 8th execution (b) is refused
  });

  it("runs a 400-step chain without a loop under the default limits (the loop guard counts per step)", async () => {
    const steps = Array.from({ length: 400 }, (_, i) => t(`s${i}`, i === 0 ? "{{ input.n }}" : `{{ steps.s${i - 1} + 1 }}`));
    const { order, outputs } = await run({ id: "w", name: "w", steps }, { n: 1 });
    expect(order).toHaveLength(400);
    expect(outputs.s399).toBe(400);
  });

  it("fails an endless loop with LOOP_LIMIT naming the step that exceeds limits.maxIterations", async () => {
    const loop = (limits?: WorkflowDefinition["limits"]): WorkflowDefinition => ({
      id: "w",
      name: "w",
      ...(limits ? { limits } : {}),
      steps: [t("a", 1), t("b", 2)],
      edges: [
        { from: "a", to: "b" },
        { from: "b", to: "a" },
      ],
    });
    const tight = await run(loop({ maxIterations: 3 })).catch((e) => e);
    expect(tight).toBeInstanceOf(OrchestratorError);
    expect(tight.code).toBe("LOOP_LIMIT");
    expect(tight.stepId).toBe("a"); // a and b ran 3 times each; a's 4th execution is refused
    expect(tight.message).toMatch(/step "a" reached its limit of 3 executions.*limits\.maxIterations/);

    // The default is 100 per step: 200 executions in all, far beyond the old total of 100.
    const executions: string[] = [];
    const compiled = compileWorkflow(loop(), { runId: "test", settings: {}, onStepStart: (step) => void executions.push(step.id) }, new MemorySaver());
    const byDefault = await compiled.graph
      .invoke({ input: {}, vars: {} }, { configurable: { thread_id: `t-${Math.random()}` }, recursionLimit: compiled.recursionLimit })
      .catch((e) => e);
    expect(byDefault.code).toBe("LOOP_LIMIT");
    expect(byDefault.stepId).toBe("a");
    expect(executions).toHaveLength(200);
  });

  it("reaches LOOP_LIMIT before LangGraph's recursion limit in a loop of parallel lanes", async () => {
    const lanes = Array.from({ length: 6 }, (_, i) => `lane${i}`);
    const err = await run({
      id: "w",
      name: "w",
      limits: { maxIterations: 4 },
      steps: [t("start", 0), ...lanes.map((id) => t(id, id)), t("join", 1), { id: "again", type: "condition", config: { expression: "true" } }],
      edges: [
        ...lanes.flatMap((id) => [
          { from: "start", to: id },
          { from: id, to: "join" },
        ]),
        { from: "join", to: "again" },
        { from: "again", to: "start", when: "true" as const },
      ],
    }).catch((e) => e);
    expect(err.code).toBe("LOOP_LIMIT");
    expect(err.stepId).toBe("start");
  });

  it("does not count map items against the run's limits (they run in the map step's own graph)", async () => {
    const items = Array.from({ length: 150 }, (_, i) => i);
    const { outputs } = await run({
      id: "w",
      name: "w",
      limits: { maxIterations: 1, maxStepExecutions: 2 },
      steps: [
        t("list", "{{ input.items }}"),
        { id: "each", type: "map", config: { items: "{{ steps.list }}", concurrency: 10, steps: [t("double", "{{ item * 2 }}")] } },
      ],
    }, { items });
    expect(outputs.each).toEqual(items.map((i) => i * 2));
  });

  it("gives a step the outputs its templates name, all of them when it reads steps as a whole", async () => {
    const { outputs } = await run({
      id: "w",
      name: "w",
      vars: { seen: [] },
      steps: [
        t("a", 1),
        t("b", 2),
        t("named", "{{ steps.a + steps.b }}"),
        t("dynamic", "{{ $sort($keys(steps)) }}"),
        t("lookup", "{{ $lookup(steps, 'named') }}"),
        { id: "check", type: "condition", config: { expression: "steps.lookup = 3" } },
        t("assigned", "x", { assign: { seen: "{{ [steps.a, steps.check.result] }}" } }),
        t("varsOut", "{{ vars.seen }}"),
        { id: "each", type: "map", config: { items: "{{ [1, 2] }}", steps: [t("inner", "{{ item + steps.b }}"), t("outer", "{{ steps.inner * steps.named }}")] } },
      ],
    });
    expect(outputs).toMatchObject({ named: 3, dynamic: ["a", "b", "named"], lookup: 3, check: { result: true }, varsOut: [1, true], each: [9, 12] });
  });

  it("finds the outputs a step reads from its templates, expressions, assign and item steps", () => {
    const step = (extra: object) => ({ id: "s", type: "transform", config: { output: "x" }, ...extra }) as WorkflowStep;
    expect(stepsReadBy(step({ config: { output: { a: "{{ steps.a.text }} and {{ steps.b }}", n: 1 } } }))).toEqual(new Set(["a", "b"]));
    expect(stepsReadBy({ id: "c", type: "condition", config: { expression: "steps.x > 1 and vars.n" } })).toEqual(new Set(["x"]));
    expect(stepsReadBy(step({ assign: { n: "steps.y + 1" } }))).toEqual(new Set(["y"]));
    expect(stepsReadBy({ id: "m", type: "map", config: { items: "{{ steps.list }}", steps: [{ id: "i", type: "transform", config: { output: "{{ steps.z }}" } }] } })).toEqual(new Set(["list", "z"]));
    expect(stepsReadBy(step({ config: { output: "{{ $keys(steps) }}" } }))).toBe("all");
    expect(stepsReadBy(step({ config: { output: "{{ $ }}" } }))).toBe("all");
    expect(stepsReadBy({ id: "c", type: "code", config: { code: "return 1" } })).toBe("all");
    // The llm step's responseSchema is raw (never rendered): its braces are not templates.
    expect(stepsReadBy({ id: "l", type: "llm", config: { model: "m", prompt: "{{ steps.q }}", responseSchema: { description: "{{ steps.never }}" } } })).toEqual(new Set(["q"]));
  });

  it("names the step and field when a template fails", async () => {
    const err = await run({ id: "w", name: "w", steps: [t("a", "{{ $number('x') }}")] }).catch((e) => e);
    expect(err.code).toBe("TEMPLATE_ERROR");
    expect(err.stepId).toBe("a");
    expect(err.message).toMatch(/field "config.output"/);
  });

  it("fails a step whose output does not match its outputSchema, naming the path", async () => {
    const schema = { type: "object", properties: { n: { type: "number" }, tags: { type: "array", items: { type: "string" } } }, required: ["n", "tags"] };
    const ok = await run({ id: "w", name: "w", steps: [t("a", { n: 1, tags: ["x"] }, { outputSchema: schema })] });
    expect(ok.outputs.a).toEqual({ n: 1, tags: ["x"] });
    const err = await run({ id: "w", name: "w", steps: [t("a", { n: "one", tags: ["x", 2] }, { outputSchema: schema })] }).catch((e) => e);
    expect(err.code).toBe("OUTPUT_INVALID");
    expect(err.stepId).toBe("a");
    expect(err.message).toMatch(/output\.n: must be number/);
    expect(err.message).toMatch(/output\.tags\.1: must be string/);
  });
});
