import type { ValidationIssue } from "./schema";

/**
 * Bounds on the shape of JSON that comes from outside (definitions, run input, webhook and callback bodies,
 * approval data, fork edits, step outputs from http/llm/code). Pure: no I/O, and never recursive itself.
 *
 * Nesting depth: V8's JSON.parse is iterative, but almost everything after it recurses once per level —
 * JSON.stringify (the run row, the checkpoint serializer) overflows the stack at about 4,000 levels,
 * structuredClone at about 2,000, our own walkers and Ajv/zod/React's reply decoder in between — and they run
 * deep inside other call stacks (LangGraph, Next). The default of 100 levels keeps every one of them more than
 * 20× away from the stack's end, while real data (API answers, LLM JSON, JSON Schemas, which take two levels
 * per level of the data they describe) stays far below it. Same order as protobuf's recursion limit (100).
 */

export const DEFAULT_MAX_JSON_DEPTH = 100;
/** The highest depth the env may set: beyond it serializing such values can overflow the stack. */
export const MAX_JSON_DEPTH_CEILING = 1000;
export const MAX_JSON_DEPTH_ENV = "ORCHESTRATOR_MAX_JSON_DEPTH";

/** The nesting limit: env ORCHESTRATOR_MAX_JSON_DEPTH (a whole number, 1–1000), default 100. */
export function maxJsonDepth(): number {
  const raw = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.[MAX_JSON_DEPTH_ENV];
  const n = raw === undefined || raw.trim() === "" ? NaN : Number(raw);
  if (!Number.isInteger(n) || n < 1) return DEFAULT_MAX_JSON_DEPTH;
  return Math.min(n, MAX_JSON_DEPTH_CEILING);
}

export type JsonPath = Array<string | number>;

interface Frame {
  value: object;
  /** The key this frame was reached by (unused for the root). */
  key: string | number;
  /** Own keys of an object; null for an array (walked by index). */
  keys: string[] | null;
  next: number;
  length: number;
}

/**
 * Where `value` is nested deeper than `limit` levels: the path (keys from the root) to the first object or
 * array that lies deeper than the limit, or null when none does. Depth counts objects and arrays: `1` is 0
 * levels, `{}` 1, `{"a":[1]}` 2.
 *
 * An explicit stack, never recursion, so any depth is safe to check; linear in the size of a tree (all parsed
 * JSON). Values built in-process may share references: a walk that visits far more containers than a tree
 * of that size could have starts over remembering what it walked, so a value met again is walked again only
 * when reached deeper than before — a cycle is reported as too deep and a diamond-shaped value stays linear.
 */
export function findExcessNesting(value: unknown, limit: number = maxJsonDepth()): JsonPath | null {
  if (value === null || typeof value !== "object") return null;
  if (limit < 1) return [];
  const fast = walk(value, limit, null, FAST_WALK_BUDGET);
  return fast === BUDGET_SPENT ? (walk(value, limit, new Map(), Infinity) as JsonPath | null) : fast;
}

/** Containers the walk without bookkeeping may visit (a 1 MB body has far fewer; a 2^60 diamond far more). */
const FAST_WALK_BUDGET = 4_000_000;
const BUDGET_SPENT = Symbol("budget spent");

function walk(value: object, limit: number, seenAt: Map<object, number> | null, budget: number): JsonPath | null | typeof BUDGET_SPENT {
  const stack: Frame[] = [];
  const push = (child: object, key: string | number) => {
    const keys = Array.isArray(child) ? null : Object.keys(child);
    stack.push({ value: child, key, keys, next: 0, length: keys ? keys.length : (child as unknown[]).length });
  };
  push(value, "");
  seenAt?.set(value, 1);
  while (stack.length) {
    const frame = stack[stack.length - 1];
    if (frame.next >= frame.length) {
      stack.pop();
      continue;
    }
    const key = frame.keys ? frame.keys[frame.next] : frame.next;
    frame.next++;
    const child = (frame.value as Record<string | number, unknown>)[key];
    if (child === null || typeof child !== "object") continue;
    const depth = stack.length + 1;
    if (depth > limit) return [...stack.slice(1).map((f) => f.key), key];
    if (seenAt) {
      const before = seenAt.get(child);
      if (before !== undefined && before >= depth) continue; // walked before from at least this deep: nothing deeper below
      seenAt.set(child, depth);
    } else if (--budget < 0) return BUDGET_SPENT;
    push(child, key);
  }
  return null;
}

/** `input.a.b.c…` for a path that may be a hundred keys long: enough to find the place, short enough to read. */
export function describeJsonPath(root: string, path: JsonPath, shown = 4): string {
  const part = (key: string | number) => (typeof key === "number" ? `[${key}]` : /^[A-Za-z_$][\w$-]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`);
  const head = path.slice(0, shown).map(part).join("");
  const text = `${root}${head}`.replace(/^\./, "");
  return path.length > shown ? `${text}…` : text;
}

/** The sentence every nesting refusal ends with: the limit, its setting, and the fix. */
export function nestingLimitText(limit: number = maxJsonDepth()): string {
  return `is nested more than ${limit} levels deep (the nesting limit, ${MAX_JSON_DEPTH_ENV}); flatten it`;
}

export interface NestingProblem {
  /** Where the limit is crossed, shortened: `input.a.b.c…`. */
  where: string;
  path: JsonPath;
  limit: number;
  /** `<where>: is nested more than 100 levels deep (the nesting limit, ORCHESTRATOR_MAX_JSON_DEPTH); flatten it` */
  message: string;
}

/** The nesting problem of an outside value named `root` (`input`, `body`, `data`…), or null when it is within the limit. */
export function nestingProblem(value: unknown, root: string, limit: number = maxJsonDepth()): NestingProblem | null {
  const path = findExcessNesting(value, limit);
  if (!path) return null;
  const where = describeJsonPath(root, path);
  return { where, path, limit, message: `${where}: ${nestingLimitText(limit)}` };
}

/**
 * An outside value (`input`, a callback `body`, approval `data`) nested deeper than the limit, as an issue
 * (code NESTING_LIMIT) naming where: `input[0][0][0][0]…: is nested more than 100 levels deep (…)`.
 */
export function nestingIssue(value: unknown, root: string): ValidationIssue | null {
  const problem = nestingProblem(value, root);
  return problem && { code: "NESTING_LIMIT", field: root, message: problem.message };
}

/**
 * Values JSON cannot carry or that would act on an object's prototype: a number that is not finite (NaN,
 * ±Infinity — what `1e400` parses to, or what the TypeScript API or an action can pass; JSON.stringify writes
 * them as null, so what was stored would not be what was given) and a `__proto__` key (copying such an object
 * with assignment sets the copy's prototype instead of a field; zod drops the key without a word).
 */
export type UnsafeJsonProblem = "non-finite" | "proto-key";

/**
 * The first unsafe value in `value` and the path to it, or null. Iterative; each object is walked once (run it
 * after the nesting check, which refuses cycles). Linear in the number of objects and keys.
 */
export function findUnsafeJsonValue(value: unknown): { path: JsonPath; problem: UnsafeJsonProblem } | null {
  if (typeof value === "number") return Number.isFinite(value) ? null : { path: [], problem: "non-finite" };
  if (value === null || typeof value !== "object") return null;
  const seen = new Set<object>([value]);
  const stack: Array<{ value: object; path: JsonPath }> = [{ value, path: [] }];
  while (stack.length) {
    const { value: node, path } = stack.pop()!;
    const keys: Array<string | number> = Array.isArray(node) ? [...node.keys()] : Object.keys(node);
    for (const key of keys) {
      if (key === "__proto__") return { path: [...path, key], problem: "proto-key" };
      const child = (node as Record<string | number, unknown>)[key];
      if (typeof child === "number" && !Number.isFinite(child)) return { path: [...path, key], problem: "non-finite" };
      if (child !== null && typeof child === "object" && !seen.has(child)) {
        seen.add(child);
        stack.push({ value: child, path: [...path, key] });
      }
    }
  }
  return null;
}

/**
 * What JSON cannot carry, found in a value from outside: in-process callers (the TS API) can pass anything, and
 * React's server-action decoder turns `$n…`, `$D…`, `$Q…`, `$NaN`, `$h…` into BigInts, Dates, Maps, NaN and
 * functions. Such values used to slip through to `structuredClone` or `JSON.stringify` (a 500, or a run stored
 * with a different value than the one checked). Only plain objects, arrays, strings, finite numbers, booleans
 * and null are data; `undefined` is taken as absent.
 */
export interface NonJsonValue {
  path: JsonPath;
  /** What was found, for the message: "NaN", "a BigInt", "a Map", "a value that contains itself"… */
  what: string;
}

function nonJsonKind(value: unknown): string | null {
  switch (typeof value) {
    case "string":
    case "boolean":
    case "undefined":
      return null;
    case "number":
      return Number.isFinite(value) ? null : String(value);
    case "bigint":
      return "a BigInt";
    case "function":
      return "a function";
    case "symbol":
      return "a symbol";
  }
  if (value === null || Array.isArray(value)) return null;
  const proto = Object.getPrototypeOf(value) as object | null;
  if (proto === Object.prototype || proto === null) return null;
  if (value instanceof Date) return "a Date (pass date.toISOString())";
  const name = (proto as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === "string" && name ? `a ${name}` : "an object that is not plain data";
}

/**
 * The first place in `value` holding something JSON cannot carry (see above), or null. Iterative, each object
 * walked once (shared parts are fine; a value containing itself is reported).
 */
export function findNonJson(value: unknown): NonJsonValue | null {
  const rootKind = nonJsonKind(value);
  if (rootKind) return { path: [], what: rootKind };
  if (value === null || typeof value !== "object") return null;
  const walked = new Set<object>([value]);
  const onPath = new Set<object>([value]);
  const stack: Frame[] = [];
  const push = (child: object, key: string | number) => {
    const keys = Array.isArray(child) ? null : Object.keys(child);
    stack.push({ value: child, key, keys, next: 0, length: keys ? keys.length : (child as unknown[]).length });
  };
  push(value, "");
  while (stack.length) {
    const frame = stack[stack.length - 1];
    if (frame.next >= frame.length) {
      onPath.delete(frame.value);
      stack.pop();
      continue;
    }
    const key = frame.keys ? frame.keys[frame.next] : frame.next;
    frame.next++;
    const child = (frame.value as Record<string | number, unknown>)[key];
    const path = () => [...stack.slice(1).map((f) => f.key), key];
    const kind = nonJsonKind(child);
    if (kind) return { path: path(), what: kind };
    if (child === null || typeof child !== "object") continue;
    if (onPath.has(child)) return { path: path(), what: "a value that contains itself" };
    if (walked.has(child)) continue;
    walked.add(child);
    onPath.add(child);
    push(child, key);
  }
  return null;
}

/** What to say about an unsafe value: the problem and its fix. */
export function unsafeJsonText(problem: UnsafeJsonProblem, value?: unknown): string {
  return problem === "non-finite"
    ? `${String(value)} is not a finite number (NaN, Infinity and numbers beyond ±1.8e308 such as 1e400 cannot be stored); write a finite number`
    : `"__proto__" is not allowed as a field name (it would change the object's prototype); rename the field`;
}

/** The value at `path` in `root` (for the message). */
const valueAt = (root: unknown, path: JsonPath) => path.reduce<unknown>((v, k) => (v as Record<string | number, unknown> | undefined)?.[k], root);

/** The sentence every such refusal ends with. */
export const NOT_JSON_TEXT = "is not JSON data (only objects, arrays, strings, finite numbers, true/false and null are taken)";

/** The non-JSON problem of an outside value named `root`, as `<where>: NaN is not JSON data (…)`, or null. */
export function nonJsonProblem(value: unknown, root: string): { where: string; path: JsonPath; message: string } | null {
  const found = findNonJson(value);
  if (!found) return null;
  const where = describeJsonPath(root, found.path);
  return { where, path: found.path, message: `${where}: ${found.what} ${NOT_JSON_TEXT}` };
}

/**
 * Everything checked where outside data enters, in order: nested too deep (NESTING_LIMIT, first: it also catches
 * cycles before anything walks them), a non-finite number or a `__proto__` key (INVALID_VALUE), then anything else
 * JSON cannot carry (NOT_JSON). As an issue naming where, or null.
 */
export function outsideValueIssue(value: unknown, root: string): ValidationIssue | null {
  const tooDeep = nestingIssue(value, root);
  if (tooDeep) return tooDeep;
  const unsafe = findUnsafeJsonValue(value);
  if (unsafe) return { code: "INVALID_VALUE", field: root, message: `${describeJsonPath(root, unsafe.path, 8)}: ${unsafeJsonText(unsafe.problem, valueAt(value, unsafe.path))}` };
  const notJson = nonJsonProblem(value, root);
  return notJson && { code: "NOT_JSON", field: root, message: notJson.message };
}
