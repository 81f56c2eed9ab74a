import { describe, expect, it } from "vitest";
import { diffJson } from "./json-diff";

describe("diffJson", () => {
  it("finds nothing between equal values", () => {
    expect(diffJson({ a: [1, { b: "x" }] }, { a: [1, { b: "x" }] })).toEqual({ differences: [], truncated: false });
  });

  it("names changed, added and removed paths in document order", () => {
    const { differences } = diffJson({ topic: "cats", n: 1, tags: ["a"], "odd key": 1 }, { topic: "dogs", tags: ["a", "b"], extra: true, "odd key": 2 });
    expect(differences).toEqual([
      { path: "$.topic", kind: "changed", a: "cats", b: "dogs" },
      { path: "$.n", kind: "removed", a: 1 },
      { path: "$.tags[1]", kind: "added", b: "b" },
      { path: '$["odd key"]', kind: "changed", a: 1, b: 2 },
      { path: "$.extra", kind: "added", b: true },
    ]);
  });

  it("treats a change of type as one change", () => {
    expect(diffJson({ a: { b: 1 } }, { a: [1] }).differences).toEqual([{ path: "$.a", kind: "changed", a: { b: 1 }, b: [1] }]);
  });

  it("stops at the bound and says so, also for deep values", () => {
    const a = Array.from({ length: 1000 }, (_, i) => i);
    const b = a.map((i) => i + 1);
    const result = diffJson(a, b, 10);
    expect(result.differences).toHaveLength(10);
    expect(result.truncated).toBe(true);
    let deepA: unknown = 1;
    let deepB: unknown = 2;
    for (let i = 0; i < 10_000; i++) (deepA = { x: deepA }), (deepB = { x: deepB });
    expect(diffJson(deepA, deepB).differences).toHaveLength(1);
  });
});
