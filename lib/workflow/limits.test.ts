import { afterEach, describe, expect, it } from "vitest";
import { DEFAULT_MAX_JSON_DEPTH, describeJsonPath, findExcessNesting, findNonJson, maxJsonDepth, nestingIssue, nestingProblem, NOT_JSON_TEXT, outsideValueIssue } from "./limits";

/** `levels` arrays inside each other, parsed from text as outside JSON is (JSON.parse itself is iterative). */
const nestedArrays = (levels: number, leaf = "1") => JSON.parse(`${"[".repeat(levels)}${leaf}${"]".repeat(levels)}`);
const nestedObjects = (levels: number) => JSON.parse(`${'{"a":'.repeat(levels)}1${"}".repeat(levels)}`);

const savedEnv = process.env.ORCHESTRATOR_MAX_JSON_DEPTH;
afterEach(() => {
  if (savedEnv === undefined) delete process.env.ORCHESTRATOR_MAX_JSON_DEPTH;
  else process.env.ORCHESTRATOR_MAX_JSON_DEPTH = savedEnv;
});

describe("nesting limit", () => {
  it("counts objects and arrays: a value exactly at the limit passes, one level more is refused with its path", () => {
    expect(findExcessNesting(1, 1)).toBeNull();
    expect(findExcessNesting("deep", 1)).toBeNull();
    expect(findExcessNesting({}, 1)).toBeNull();
    expect(findExcessNesting({ a: [1, 2] }, 2)).toBeNull();
    expect(findExcessNesting({ a: [1, { b: 2 }] }, 2)).toEqual(["a", 1]);
    expect(findExcessNesting({ ok: [[1]], bad: { x: { y: {} } } }, 3)).toEqual(["bad", "x", "y"]);
    expect(findExcessNesting(nestedArrays(100), 100)).toBeNull();
    expect(findExcessNesting(nestedArrays(101), 100)).toHaveLength(100);
  });

  it("checks 100,000 levels without recursing (every recursive walker overflows the stack there)", () => {
    const deep = nestedArrays(100_000);
    expect(() => JSON.stringify(deep)).toThrow(RangeError); // what the check stands in front of
    const problem = nestingProblem(deep, "input");
    expect(problem).toMatchObject({ where: "input[0][0][0][0]…", limit: 100 });
    expect(problem!.message).toBe("input[0][0][0][0]…: is nested more than 100 levels deep (the nesting limit, ORCHESTRATOR_MAX_JSON_DEPTH); flatten it");
    expect(nestingIssue(nestedObjects(5000), "body")).toEqual({
      code: "NESTING_LIMIT",
      field: "body",
      message: "body.a.a.a.a…: is nested more than 100 levels deep (the nesting limit, ORCHESTRATOR_MAX_JSON_DEPTH); flatten it",
    });
  });

  it("reports a cycle as too deep and walks a value with shared parts in linear time", () => {
    const cycle: Record<string, unknown> = { name: "loop" };
    cycle.self = cycle;
    expect(findExcessNesting(cycle, 10)).toEqual(Array(10).fill("self"));
    // 2^60 paths through 61 distinct arrays: a walk that followed every path would never end.
    let diamond: unknown = [1];
    for (let i = 0; i < 60; i++) diamond = [diamond, diamond];
    expect(findExcessNesting(diamond, 100)).toBeNull();
    expect(findExcessNesting(diamond, 50)).toHaveLength(50);
  });

  it("is linear in the size of a wide value (10× the items take about 10× the time, not 100×)", () => {
    const wide = (n: number) => ({ items: Array.from({ length: n }, (_, i) => ({ id: i, tags: ["a", "b"], meta: { score: i, more: [{ x: 1 }] } })) });
    const small = wide(20_000);
    const large = wide(200_000);
    const time = (value: unknown) => {
      let best = Infinity;
      for (let i = 0; i < 3; i++) {
        const started = performance.now();
        expect(findExcessNesting(value, 100)).toBeNull();
        best = Math.min(best, performance.now() - started);
      }
      return best;
    };
    time(small); // warm up
    expect(time(large) / time(small)).toBeLessThan(40);
  });

  it("is set by ORCHESTRATOR_MAX_JSON_DEPTH: a whole number from 1 to 1000, else the default", () => {
    delete process.env.ORCHESTRATOR_MAX_JSON_DEPTH;
    expect(maxJsonDepth()).toBe(DEFAULT_MAX_JSON_DEPTH);
    expect(DEFAULT_MAX_JSON_DEPTH).toBe(100);
    process.env.ORCHESTRATOR_MAX_JSON_DEPTH = "20";
    expect(maxJsonDepth()).toBe(20);
    expect(nestingProblem(nestedArrays(21), "input")?.message).toMatch(/more than 20 levels/);
    expect(nestingProblem(nestedArrays(20), "input")).toBeNull();
    process.env.ORCHESTRATOR_MAX_JSON_DEPTH = "100000";
    expect(maxJsonDepth()).toBe(1000);
    for (const bad of ["0", "-5", "2.5", "lots", ""]) {
      process.env.ORCHESTRATOR_MAX_JSON_DEPTH = bad;
      expect(maxJsonDepth()).toBe(DEFAULT_MAX_JSON_DEPTH);
    }
  });

  it("names a place in a long path briefly", () => {
    expect(describeJsonPath("input", ["a", 0, "b c", "d", "e"])).toBe('input.a[0]["b c"].d…');
    expect(describeJsonPath("", ["config", "output"])).toBe("config.output");
  });
});

describe("only JSON data from outside (findNonJson, outsideValueIssue)", () => {
  it("names where a value JSON cannot carry sits, and what it is", () => {
    expect(findNonJson({ a: [1, { b: NaN }] })).toEqual({ path: ["a", 1, "b"], what: "NaN" });
    expect(findNonJson([Infinity])).toEqual({ path: [0], what: "Infinity" });
    expect(findNonJson({ n: 10n })).toEqual({ path: ["n"], what: "a BigInt" });
    expect(findNonJson({ f: () => 1 })).toEqual({ path: ["f"], what: "a function" });
    expect(findNonJson({ m: new Map() })).toEqual({ path: ["m"], what: "a Map" });
    expect(findNonJson({ d: new Date(0) })).toMatchObject({ path: ["d"], what: expect.stringMatching(/^a Date/) });
    expect(findNonJson(Symbol("s"))).toEqual({ path: [], what: "a symbol" });
    const loop: Record<string, unknown> = { a: {} };
    (loop.a as Record<string, unknown>).back = loop;
    expect(findNonJson(loop)).toEqual({ path: ["a", "back"], what: "a value that contains itself" });
  });

  it("takes plain data: shared parts, null-prototype objects, undefined as absent, own __proto__ keys", () => {
    const shared = { x: 1 };
    expect(findNonJson({ a: shared, b: [shared, shared], c: undefined, d: Object.assign(Object.create(null), { e: "f" }) })).toBeNull();
    expect(findNonJson(JSON.parse('{"__proto__": {"polluted": true}, "constructor": {"prototype": 1}}'))).toBeNull();
    expect(findNonJson(null)).toBeNull();
  });

  it("outsideValueIssue reports nesting first (it catches cycles before anything walks them), then non-finite numbers and __proto__ keys, then NOT_JSON", () => {
    expect(outsideValueIssue({ total: NaN }, "input")).toMatchObject({ code: "INVALID_VALUE", field: "input", message: expect.stringMatching(/^input\.total: NaN is not a finite number/) });
    expect(outsideValueIssue({ total: 1n }, "input")).toEqual({ code: "NOT_JSON", field: "input", message: `input.total: a BigInt ${NOT_JSON_TEXT}` });
    const loop: unknown[] = [];
    loop.push(loop);
    expect(outsideValueIssue(loop, "input")).toMatchObject({ code: "NESTING_LIMIT", field: "input" });
    expect(outsideValueIssue({ fine: [1, "two", null, true] }, "input")).toBeNull();
  });
});
