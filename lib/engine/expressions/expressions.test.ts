import { monitorEventLoopDelay } from "node:perf_hooks";
import { afterAll, describe, expect, it } from "vitest";
import { OrchestratorError } from "@/lib/engine/errors";
import type { ExpressionContext } from "@/lib/workflow/expression";
import { analyzeExpression } from "./bounded.mjs";
import { ExpressionEvaluator, expressionLimits, type ExpressionLimits } from "./index";
import { ExpressionWorkers, expressionWorkers } from "./pool";

const ctx: ExpressionContext = { input: { n: 2, topic: "cats" }, steps: { draft: { text: "hi", score: 0.7 }, "my-step": { v: 3 } }, vars: { n: 1 } };
const evaluator = (limits: Partial<ExpressionLimits> = {}, context = ctx, signal?: AbortSignal) =>
  new ExpressionEvaluator(context, { stepId: "t", limits: { ...expressionLimits(), ...limits }, signal });

/** The error an evaluation fails with, and the longest the event loop waited meanwhile. */
async function failure(expression: string, limits: Partial<ExpressionLimits> = {}) {
  const delay = monitorEventLoopDelay({ resolution: 5 });
  delay.enable();
  const started = performance.now();
  const error = await evaluator(limits)
    .evaluate(expression, "config.output")
    .then(
      () => undefined,
      (err: unknown) => err as OrchestratorError,
    );
  delay.disable();
  return { error, ms: performance.now() - started, maxLoopDelayMs: delay.max / 1e6 };
}

afterAll(() => expressionWorkers().close());

describe("expressions", () => {
  it("does natural arithmetic on JSON numbers", async () => {
    expect(await evaluator().evaluate("vars.n + 1", "f")).toBe(2);
    expect(await evaluator().evaluate("input.n * 2", "f")).toBe(4);
  });
  it("supports member access, comparisons and boolean logic", async () => {
    expect(await evaluator().evaluate("steps.draft.score > 0.5 and input.topic = 'cats'", "f")).toBe(true);
    expect(await evaluator().evaluate("$not(vars.n = 1) or steps.`my-step`.v >= 3", "f")).toBe(true);
  });
  it("has no way out to the host", async () => {
    expect(await evaluator().evaluate("$eval('process')", "f")).toBeUndefined();
    expect(await evaluator().evaluate("constructor", "f")).toBeUndefined();
  });
  it("gives the same answers in a worker: regular expressions, **, $eval, long lists", async () => {
    expect(await evaluator().evaluate("$match(steps.draft.text, /h(i)/).groups", "f")).toEqual(["i"]);
    expect(await evaluator().evaluate("$sum(steps.**.v)", "f")).toBe(3);
    expect(await evaluator().evaluate("$eval('input.n + 40')", "f")).toBe(42);
    expect(await evaluator().evaluate("$count($distinct($map([1..3000], function($v){ $v % 7 })))", "f")).toBe(7);
    expect(await evaluator().evaluate("$sum([1..200000])", "f")).toBe(20000100000);
  });
  it("keeps only data when a result holds a function", async () => {
    expect(await evaluator().evaluate("function($x){ $x }", "f")).toBeUndefined();
    expect(await evaluator().evaluate("{ 'a': 1, 'f': function($x){ $x } }", "f")).toEqual({ a: 1 });
  });
  it("copies to a worker only the parts of the context an expression reads", () => {
    expect(analyzeExpression("$match(steps.draft.text, /x/) and input.n > 1")).toEqual({ workerOnly: true, reads: { roots: expect.arrayContaining(["steps", "input"]), steps: ["draft"] } });
    expect(analyzeExpression("$keys(steps)").reads).toMatchObject({ steps: "all" });
    expect(analyzeExpression("$.input").reads).toBe("all");
    expect(analyzeExpression("$eval('steps.a')")).toEqual({ workerOnly: true, reads: "all" });
  });
});

describe("templates", () => {
  it("yields the raw value for a single placeholder", async () => {
    expect(await evaluator().renderTemplate("{{ input.n * 2 }}", "f")).toBe(4);
    expect(await evaluator().renderTemplate("  {{ steps.draft }} ", "f")).toEqual({ text: "hi", score: 0.7 });
  });
  it("interpolates text otherwise", async () => {
    expect(await evaluator().renderTemplate("About {{ input.topic }}: {{ steps.draft }}", "f")).toBe('About cats: {"text":"hi","score":0.7}');
    expect(await evaluator().renderTemplate("{{ input.n }}{{ vars.n }}", "f")).toBe("21");
  });
  it("renders nested JSON", async () => {
    expect(await evaluator().renderValue({ a: ["{{ vars.n }}", { b: "x{{ input.n }}" }], c: 5 }, "config.output")).toEqual({ a: [1, { b: "x2" }], c: 5 });
  });
  it("names the step and the field when an expression fails", async () => {
    const err = await evaluator()
      .renderValue({ a: ["{{ $number('x') }}"] }, "config.output")
      .catch((e: OrchestratorError) => e);
    expect(err).toBeInstanceOf(OrchestratorError);
    expect((err as OrchestratorError).code).toBe("TEMPLATE_ERROR");
    expect((err as OrchestratorError).message).toMatch(/^step "t" field "config\.output\.a\[0\]": expression "\$number\('x'\)" failed/);
  });
});

/**
 * Each of these killed or froze the server before expressions were bounded. Now each fails with
 * EXPRESSION_LIMIT naming the step, the field and the limit (and the variable that raises it), quickly, while
 * the event loop keeps turning (its longest wait stays far below a second), and the process goes on.
 */
describe("hostile expressions", () => {
  it("a single huge allocation ($pad to 500 million characters) is refused before it happens", async () => {
    const { error, ms } = await failure('$length($pad("", 500000000))');
    expect(error?.code).toBe("EXPRESSION_LIMIT");
    expect(error?.message).toMatch(/^step "t" field "config\.output": the expression built a value larger than 5242880 bytes/);
    expect(error?.message).toMatch(/ORCHESTRATOR_EXPRESSION_MAX_BYTES/);
    expect(ms).toBeLessThan(1000);
  });

  it("an endless loop stops at the time limit without holding the event loop", async () => {
    const { error, ms, maxLoopDelayMs } = await failure("($f := function($x){ $f($x) }; $f(1))", { timeoutMs: 400 });
    expect(error?.code).toBe("EXPRESSION_LIMIT");
    expect(error?.message).toMatch(/ran longer than 400 ms .*ORCHESTRATOR_EXPRESSION_TIMEOUT_MS/);
    expect(ms).toBeGreaterThanOrEqual(400);
    expect(ms).toBeLessThan(5000);
    expect(maxLoopDelayMs).toBeLessThan(ms / 2);
  });

  it("endless recursion stops at the depth limit before it grows memory", async () => {
    const rss = process.memoryUsage().rss;
    const { error, ms } = await failure("($f := function($x){ 1 + $f($x) }; $f(1))");
    expect(error?.code).toBe("EXPRESSION_LIMIT");
    expect(error?.message).toMatch(/nested calls deeper than 1000 levels .*ORCHESTRATOR_EXPRESSION_MAX_DEPTH/);
    expect(ms).toBeLessThan(2000);
    expect(process.memoryUsage().rss - rss).toBeLessThan(200 * 1024 * 1024);
  });

  it("a range of ten million items is refused at the sequence limit", async () => {
    const { error, ms } = await failure('$join([1..10000000].$string($), ",")');
    expect(error?.code).toBe("EXPRESSION_LIMIT");
    expect(error?.message).toMatch(/more than 1000000 items.*ORCHESTRATOR_EXPRESSION_MAX_ITEMS/);
    expect(ms).toBeLessThan(1000);
  });

  it("sharing cannot hide size: a value doubled forty times is measured as JSON would write it", async () => {
    const { error } = await failure('[1..40] ~> $reduce(function($acc, $i){ { "l": $acc, "r": $acc } }, "x")');
    expect(error?.code).toBe("EXPRESSION_LIMIT");
    expect(error?.message).toMatch(/larger than 5242880 bytes/);
  });

  it("built-ins whose output outgrows their arguments are checked first ($replace, $join, $string)", async () => {
    for (const expression of [
      '$replace($pad("", 60000, "a"), "a", $pad("", 1000, "b"))',
      '$join([1..100000].$string(), $pad("", 1000, ","))',
      '$string($reduce([1..19], function($acc, $i){ {"a": $acc} }, [1..200000]), true)',
    ]) {
      const { error } = await failure(expression);
      expect(error?.code, expression).toBe("EXPRESSION_LIMIT");
      expect(error?.message, expression).toMatch(/larger than 5242880 bytes/);
    }
  });

  it("a value nested beyond the nesting limit is refused (it would overflow the stack when stored)", async () => {
    const { error } = await failure('$reduce([1..100000], function($acc, $i){ { "a": $acc } }, {})');
    expect(error?.code).toBe("EXPRESSION_LIMIT");
    expect(error?.message).toMatch(/nested deeper than 100 levels.*ORCHESTRATOR_MAX_JSON_DEPTH/);
  });

  it("a catastrophically backtracking regular expression is stopped from outside; the next evaluation works", async () => {
    const { error, ms, maxLoopDelayMs } = await failure('$match($pad("", 40, "a") & "!", /(a+)+b/)', { timeoutMs: 300 });
    expect(error?.code).toBe("EXPRESSION_LIMIT");
    expect(error?.message).toMatch(/ran longer than 300 ms/);
    expect(maxLoopDelayMs).toBeLessThan(ms / 2);
    expect(await evaluator().evaluate('$match("ab", /(a+)+b/).match', "f")).toBe("ab");
  });

  it("a worker whose heap fills up is terminated and replaced; the process goes on", async () => {
    const { error } = await failure('($f := function($n){ $n = 0 ? 0 : ($s := $pad("", 4000000, $string($n)); $f($n - 1) + $length($s)) }; $f(300))', {
      memoryMb: 64,
      timeoutMs: 10_000,
    });
    expect(error?.code).toBe("EXPRESSION_LIMIT");
    expect(error?.message).toMatch(/used more than 64 MB of memory.*ORCHESTRATOR_EXPRESSION_MEMORY_MB/);
    expect(await evaluator().evaluate("$sum([1..100000])", "f")).toBe(5000050000);
  });

  it("many placeholders add up within the size limit too", async () => {
    const big = { input: { text: "x".repeat(1024 * 1024) }, steps: {}, vars: {} };
    const config = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`k${i}`, "{{ input.text }}"]));
    const err = await evaluator({}, big)
      .renderValue(config, "config.output")
      .catch((e: OrchestratorError) => e);
    expect((err as OrchestratorError).code).toBe("EXPRESSION_LIMIT");
    expect((err as OrchestratorError).message).toMatch(/field "config\.output": the rendered value is larger than 5242880 bytes/);
  });

  it("a config of 20,000 templates gives the event loop a turn every few milliseconds", async () => {
    const config = Array.from({ length: 20_000 }, (_, i) => `item {{ input.n + ${i} }}`);
    const delay = monitorEventLoopDelay({ resolution: 5 });
    delay.enable();
    const started = performance.now();
    const rendered = (await evaluator().renderValue(config, "config.output")) as string[];
    const ms = performance.now() - started;
    delay.disable();
    expect(rendered[19_999]).toBe("item 20001");
    // Rendering takes seconds (each distinct expression is parsed once); the loop never waits long for it
    // (compared with the whole, which is what it would wait without the turns: robust on a loaded machine).
    expect(ms).toBeGreaterThan(1000);
    expect(delay.max / 1e6).toBeLessThan(ms / 4);
  });

  it("a worker's start does not count against the expression's time limit; the limit holds once it runs", async () => {
    const workers = new ExpressionWorkers(new URL("./fixtures/slow-start-worker.mjs", import.meta.url));
    const limits = { ...expressionLimits(), timeoutMs: 100, workers: 1 };
    try {
      const started = performance.now();
      expect(await workers.evaluate("1 + 1", {}, limits)).toBe(2);
      expect(performance.now() - started).toBeGreaterThan(800);
      const runaway = workers.evaluate('$match($pad("", 40, "a") & "!", /(a+)+b/)', {}, limits);
      await expect(runaway).rejects.toThrow(/ran longer than 100 ms/);
    } finally {
      await workers.close();
    }
  });

  it("a cancelled run stops its evaluation in the worker at once", async () => {
    const controller = new AbortController();
    const started = performance.now();
    const pending = evaluator({ timeoutMs: 10_000 }, ctx, controller.signal).evaluate("($f := function($x){ $f($x) }; $f(1))", "f");
    setTimeout(() => controller.abort(new Error("cancelled")), 100);
    await expect(pending).rejects.toThrow("cancelled");
    expect(performance.now() - started).toBeLessThan(2000);
  });
});
