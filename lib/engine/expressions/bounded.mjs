// JSONata evaluation with bounds on time, call depth, and the size and nesting of every value it builds.
// Plain JavaScript because it runs in two places: in line on the server's event loop (with a budget of a few
// milliseconds) and in the expression worker threads (with the full, configurable limits). Types: bounded.d.mts.
//
// How each bound holds:
// - time and call depth: JSONata's own guardrails (`timeout`, `stack`), checked on entry to every AST node;
// - sequences and ranges: JSONata's `sequence` option (checked on every push);
// - size and nesting of values: after every node (`__evaluate_exit` hook) the result is measured — strings by
//   length, objects and arrays by an iterative walk that counts shared parts as often as JSON would repeat
//   them (memoised per evaluation), so exponential sharing (`[$x, $x]` doubled 40 times) is caught early;
// - built-ins whose output is not bounded by the size of their arguments ($pad's width, $join's separator,
//   $replace's replacement, $string's indentation) are replaced by checked versions that compute the size
//   first: a single huge allocation would abort the whole process (V8 "invalid size" / "heap limit" fatal
//   errors cannot be caught, not even in a worker).
// In line, anything that cannot be bounded in a few milliseconds (regular expressions: backtracking;
// `**`, transforms and $eval: work proportional to unbounded data) is not attempted: `EscalateError` sends the
// evaluation to a worker, where the main thread can terminate it.
import jsonata from "jsonata";

/** The full limits were crossed: the evaluation fails with EXPRESSION_LIMIT. */
export class ExpressionBoundError extends Error {
  /**
   * @param {"time"|"depth"|"bytes"|"items"|"nesting"|"memory"} limit
   * @param {string} detail
   */
  constructor(limit, detail) {
    super(detail);
    this.name = "ExpressionBoundError";
    this.limit = limit;
  }
}

/** The in-line budget was crossed (or the expression needs a worker): evaluate it again in a worker. */
export class EscalateError extends Error {
  constructor(reason) {
    super(reason);
    this.name = "EscalateError";
  }
}

/** The in-line budget: small enough that an evaluation never holds the event loop for more than a few ms. */
export const INLINE_BUDGET = Object.freeze({ timeoutMs: 5, maxBytes: 64 * 1024, maxItems: 10_000, maxDistinct: 500 });

// Not reachable from expressions: JSONata variable names cannot contain a space.
const STATE = "bounded evaluation";
/** The same bound as validation's (lib/workflow/expression.ts). */
const MAX_EXPRESSION_LENGTH = 20_000;
const EXIT_HOOK = Symbol.for("jsonata.__evaluate_exit");
/** Node kinds whose result is either a literal of the expression text or a value that already exists. */
const UNMEASURED = new Set(["name", "variable", "string", "number", "value", "regex", "lambda", "parent", "wildcard"]);

/**
 * @typedef {{ timeoutMs: number, maxDepth: number, maxBytes: number, maxItems: number, maxNesting: number }} Limits
 * @typedef {{ inline: boolean, limits: Limits, memo: WeakMap<object, Measure> }} State
 * @typedef {{ bytes: number, nodes: number, height: number, functions: boolean }} Measure
 */

const isFunctionLike = (value) =>
  typeof value === "function" || (value !== null && typeof value === "object" && (value._jsonata_lambda === true || value._jsonata_function === true));

const primitiveBytes = (value) => {
  switch (typeof value) {
    case "string":
      return value.length + 2;
    case "number":
      return 8;
    case "boolean":
      return 5;
    case "object":
      return 4; // null
    default:
      return 0;
  }
};

/**
 * Size of a value as JSON would write it (shared parts counted each time), its node count and nesting height
 * (0 for a container of primitives); iterative (never recurses), memoised, and stops as soon as `maxBytes` or
 * `maxNesting` is crossed (returning which), so it costs at most O(maxBytes) whatever the value is.
 * @returns {Measure | "bytes" | "nesting"}
 */
export function measure(value, memo, maxBytes, maxNesting) {
  if (value === null || typeof value !== "object") return { bytes: primitiveBytes(value), nodes: 1, height: 0, functions: typeof value === "function" };
  if (isFunctionLike(value)) return { bytes: 0, nodes: 1, height: 0, functions: true };
  const known = memo.get(value);
  if (known) return known.height + 1 > maxNesting ? "nesting" : known.bytes > maxBytes ? "bytes" : known;
  let total = 2;
  const frame = (obj) => ({ obj, keys: Array.isArray(obj) ? null : Object.keys(obj), i: 0, m: { bytes: 2, nodes: 1, height: 0, functions: false } });
  // stack.length is the nesting depth of the container on top (the root is at depth 1).
  const stack = [frame(value)];
  for (;;) {
    const top = stack[stack.length - 1];
    const length = top.keys ? top.keys.length : top.obj.length;
    if (top.i >= length) {
      stack.pop();
      memo.set(top.obj, top.m);
      if (!stack.length) return top.m;
      const parent = stack[stack.length - 1].m;
      parent.bytes += top.m.bytes;
      parent.nodes += top.m.nodes;
      parent.height = Math.max(parent.height, top.m.height + 1);
      parent.functions ||= top.m.functions;
      continue;
    }
    const key = top.keys ? top.keys[top.i] : top.i;
    top.i++;
    const child = top.obj[key];
    const overhead = top.keys ? key.length + 4 : 1;
    top.m.bytes += overhead;
    total += overhead;
    if (child !== null && typeof child === "object" && !isFunctionLike(child)) {
      const cached = memo.get(child);
      if (cached) {
        if (stack.length + 1 + cached.height > maxNesting) return "nesting";
        top.m.bytes += cached.bytes;
        top.m.nodes += cached.nodes;
        top.m.height = Math.max(top.m.height, cached.height + 1);
        top.m.functions ||= cached.functions;
        total += cached.bytes;
      } else {
        if (stack.length + 1 > maxNesting) return "nesting";
        stack.push(frame(child));
        total += 2;
      }
    } else {
      const bytes = primitiveBytes(child);
      top.m.bytes += bytes;
      top.m.nodes += 1;
      top.m.functions ||= isFunctionLike(child);
      total += bytes;
    }
    if (total > maxBytes) return "bytes";
  }
}

/** Which bound a value crosses, as the error to throw (in line: escalate unless even the full limit is crossed). */
function checkValue(value, state, what) {
  const { limits, inline } = state;
  if (typeof value === "string") {
    if (value.length <= (inline ? INLINE_BUDGET.maxBytes : limits.maxBytes)) return;
    if (!inline || value.length > limits.maxBytes) throw tooLarge(limits, what, value.length);
    throw new EscalateError(`${what} is a large string`);
  }
  if (value === null || typeof value !== "object" || isFunctionLike(value)) return;
  const m = measure(value, state.memo, inline ? INLINE_BUDGET.maxBytes : limits.maxBytes, limits.maxNesting);
  if (typeof m === "object") return;
  if (m === "nesting") throw new ExpressionBoundError("nesting", `the expression built a value nested deeper than ${limits.maxNesting} levels`);
  if (inline) throw new EscalateError(`${what} is a large value`);
  throw tooLarge(limits, what);
}

const tooLarge = (limits, what, size) =>
  new ExpressionBoundError("bytes", `the expression built a value larger than ${limits.maxBytes} bytes${size ? ` (${what}: ${size})` : ""}`);

/** Checks a size a built-in is about to allocate, before it does. */
function checkPlannedSize(state, size, what) {
  if (size <= (state.inline ? INLINE_BUDGET.maxBytes : state.limits.maxBytes)) return;
  if (state.inline && size <= state.limits.maxBytes) throw new EscalateError(`${what} would build a large string`);
  throw tooLarge(state.limits, what, size);
}

const stateOf = (environment) => environment.lookup(STATE);

/** A path of plain names (`steps.draft.text`) that did not map over a list returns a value that already exists. */
const isPlainPath = (expr) =>
  expr.type === "path" &&
  expr.steps.every((step) => (step.type === "name" || step.type === "variable") && !step.stages && !step.predicate && !step.group && !step.focus && !step.index && !step.tuple);

/**
 * Operands whose value an operator works through: `=`/`!=`/`in` compare deeply, `&` turns objects into JSON, and
 * truth tests look into lists. Flagged in the compiled AST so that even a plain path there is measured.
 */
const CONSUMED = Symbol("consumed");
function markConsumed(ast) {
  walkAst(ast, (node) => {
    if (node.type === "binary") for (const operand of [node.lhs, node.rhs]) if (operand) operand[CONSUMED] = true;
    if (node.type === "condition" && node.condition) node.condition[CONSUMED] = true;
    if (node.type === "unary" && node.value === "-" && node.expression) node.expression[CONSUMED] = true;
    if (node.type === "filter" && node.expr) node.expr[CONSUMED] = true;
  });
}

/** Calls `visit` on every node of a JSONata AST once, iteratively (an AST can be deep). */
function walkAst(ast, visit) {
  const stack = [ast];
  const seen = new WeakSet();
  while (stack.length) {
    const node = stack.pop();
    if (!node || typeof node !== "object" || seen.has(node)) continue;
    seen.add(node);
    if (Array.isArray(node)) {
      for (const child of node) stack.push(child);
      continue;
    }
    visit(node);
    for (const [key, child] of Object.entries(node)) if (key !== "position" && child && typeof child === "object") stack.push(child);
  }
}

function onExit(expr, _input, environment, result) {
  if (!expr[CONSUMED] && (UNMEASURED.has(expr.type) || (isPlainPath(expr) && !result?.sequence))) return;
  const state = stateOf(environment);
  if (state && result !== undefined) checkValue(result, state, expr.type === "function" ? `$${expr.procedure?.value ?? "function"}(…)` : "a value");
}

/** Every JSONata built-in (2.2): each is wrapped so that in line it never works on an unmeasured large value. */
const BUILTINS = [
  "sum", "count", "max", "min", "average", "string", "substring", "substringBefore", "substringAfter", "lowercase",
  "uppercase", "length", "trim", "pad", "match", "contains", "replace", "split", "join", "formatNumber", "formatBase",
  "formatInteger", "parseInteger", "number", "floor", "ceil", "round", "abs", "sqrt", "power", "random", "boolean",
  "not", "map", "zip", "filter", "single", "reduce", "sift", "keys", "lookup", "append", "exists", "spread", "merge",
  "reverse", "each", "error", "assert", "type", "sort", "shuffle", "distinct", "base64encode", "base64decode",
  "encodeUrlComponent", "encodeUrl", "decodeUrlComponent", "decodeUrl", "eval", "toMillis", "fromMillis", "clone",
];

/** name → implementation of the original built-in. */
const originals = {};
/** name → the guarded built-in as JSONata holds a function (bound into each compiled expression). */
const guardedDefinitions = {};
const loaded = (async () => {
  const fns = await jsonata(`[${BUILTINS.map((name) => `$${name}`).join(", ")}]`).evaluate({});
  BUILTINS.forEach((name, i) => (originals[name] = fns[i].implementation));
  // JSONata makes a function definition (parsed signature) when one is registered; make each once, here.
  const host = jsonata(`[${BUILTINS.map((name) => `$${name}`).join(", ")}]`);
  BUILTINS.forEach((name, i) => host.registerFunction(name, guarded(name), fns[i].signature.definition));
  const defined = await host.evaluate({});
  BUILTINS.forEach((name, i) => (guardedDefinitions[name] = defined[i]));
})();

function countOccurrences(text, pattern, limit) {
  let count = 0;
  for (let at = text.indexOf(pattern); at !== -1 && (limit === undefined || count < limit); at = text.indexOf(pattern, at + pattern.length)) count++;
  return count;
}

/**
 * Checks made before a built-in runs, for the ones whose output or work is not bounded by the (measured) size of
 * their arguments. `state` is the evaluation's; each throws the bound it would cross.
 */
const preChecks = {
  pad(state, [str, width]) {
    if (typeof str === "string" && Number.isFinite(width)) checkPlannedSize(state, Math.max(Math.abs(Math.trunc(width)), str.length), "$pad");
  },
  join(state, [strs, separator]) {
    if (!Array.isArray(strs)) return;
    let size = Math.max(0, strs.length - 1) * (typeof separator === "string" ? separator.length : 0);
    for (const s of strs) size += typeof s === "string" ? s.length : 0;
    checkPlannedSize(state, size, "$join");
  },
  replace(state, [str, pattern, replacement, limit]) {
    if (typeof str === "string" && typeof pattern === "string" && pattern && typeof replacement === "string" && replacement.length > pattern.length)
      checkPlannedSize(state, str.length + countOccurrences(str, pattern, limit) * (replacement.length - pattern.length), "$replace");
  },
  string(state, [arg, prettify]) {
    if (!prettify || arg === null || typeof arg !== "object") return;
    // Indentation adds up to two spaces per level on every line.
    const m = measure(arg, state.memo, Number.MAX_SAFE_INTEGER, state.limits.maxNesting);
    if (typeof m === "object") checkPlannedSize(state, m.bytes + m.nodes * (2 * m.height + 3), "$string");
  },
  distinct(state, [arr]) {
    // Quadratic in the number of items: in line only for short lists.
    if (state.inline && Array.isArray(arr) && arr.length > INLINE_BUDGET.maxDistinct) throw new EscalateError("$distinct of a long list");
  },
  eval(state) {
    if (state.inline) throw new EscalateError("$eval");
  },
};

/**
 * The wrapper of one built-in: in line, every argument (also the implicit context argument of `a.$f()`) is
 * measured first, since a built-in works in one step the guardrails cannot interrupt; then the pre-check.
 */
function guarded(name) {
  const preCheck = preChecks[name];
  return function (...args) {
    const original = originals[name];
    const state = stateOf(this.environment);
    if (state) {
      if (state.inline) for (const arg of args) checkValue(arg, state, `an argument of $${name}`);
      preCheck?.(state, args);
    }
    return original.apply(this, args);
  };
}

/** @type {Map<string, ReturnType<typeof jsonata>>} */
const cache = new Map();
/** A compiled expression holds ~16 KB: keep the most recently used ones. */
const MAX_CACHE = 1000;

/** JSONata's parse, with the length bound and a clear error where its recursive parser would overflow. */
function parse(expression, options) {
  if (expression.length > MAX_EXPRESSION_LENGTH) throw { message: `the expression is longer than ${MAX_EXPRESSION_LENGTH} characters` };
  try {
    return jsonata(expression, options);
  } catch (err) {
    throw err instanceof RangeError ? { message: "the expression is nested too deeply to read" } : err;
  }
}

/** The compiled expression for one set of guardrails (JSONata fixes them at compile time). */
function compiled(expression, inline, limits) {
  const timeout = inline ? INLINE_BUDGET.timeoutMs : limits.timeoutMs;
  const sequence = inline ? Math.min(INLINE_BUDGET.maxItems, limits.maxItems) : limits.maxItems;
  const key = `${timeout}:${limits.maxDepth}:${sequence}:${expression}`;
  let expr = cache.get(key);
  if (expr) {
    cache.delete(key);
  } else {
    expr = parse(expression, { timeout, stack: limits.maxDepth, sequence });
    expr.assign(EXIT_HOOK, onExit);
    for (const name of BUILTINS) expr.assign(name, guardedDefinitions[name]);
    markConsumed(expr.ast());
    if (cache.size >= MAX_CACHE) cache.delete(cache.keys().next().value);
  }
  cache.set(key, expr);
  return expr;
}

const WORKER_ONLY = new Set(["regex", "descendant", "transform"]);

/**
 * What an expression needs, from its parsed AST (walked iteratively; cached by text): whether it must run in a worker (regular
 * expressions, `**`, transforms, $eval), and which parts of the context it reads, so that only those are copied
 * to a worker (`all` when it cannot tell: `$`, `$$`, wildcards at the root, dynamic access to `steps`).
 * @returns {{ workerOnly: boolean, reads: "all" | { roots: string[], steps: "all" | string[] } }}
 */
export function analyzeExpression(expression) {
  let analysis = analyses.get(expression);
  if (analysis) analyses.delete(expression);
  else {
    analysis = analyzeAst(parse(expression).ast());
    if (analyses.size >= MAX_ANALYSES) analyses.delete(analyses.keys().next().value);
  }
  analyses.set(expression, analysis);
  return analysis;
}

/** Analyses by expression text (small objects: many more than compiled expressions), most recently used last. */
const analyses = new Map();
const MAX_ANALYSES = 20_000;

function analyzeAst(ast) {
  let workerOnly = false;
  let all = false;
  const roots = new Set();
  const steps = new Set();
  let allSteps = false;
  walkAst(ast, (node) => {
    if (WORKER_ONLY.has(node.type)) workerOnly = true;
    if (node.type === "variable" && (node.value === "" || node.value === "$" || node.value === "eval")) {
      all = true;
      if (node.value === "eval") workerOnly = true;
    }
    if (node.type === "function" && node.procedure?.type === "variable" && node.procedure.value === "eval") workerOnly = all = true;
    if (node.type === "parent") all = true;
    if (node.type === "path" && Array.isArray(node.steps) && node.steps.length) {
      const [head, next] = node.steps;
      if (head.type === "wildcard" || head.type === "descendant") all = true;
      if (head.type === "name" && typeof head.value === "string") {
        roots.add(head.value);
        if (head.value === "steps") {
          if (next?.type === "name" && typeof next.value === "string" && !head.stages && !head.predicate) steps.add(next.value);
          else allSteps = true;
        }
      }
    }
    if (node.type === "name" && node.value === "steps") roots.add("steps");
  });
  // A bare `steps` (not the head of a path with a literal step id) reads every step.
  if (roots.has("steps") && !steps.size) allSteps = true;
  return { workerOnly, reads: all ? "all" : { roots: [...roots], steps: allSteps ? "all" : [...steps] } };
}

/** Turns JSONata's guardrail errors into ours; everything else is the expression's own error. */
function translate(err, inline, limits) {
  if (err instanceof ExpressionBoundError || err instanceof EscalateError) return err;
  switch (err?.code) {
    case "D1012":
      return inline ? new EscalateError("time") : new ExpressionBoundError("time", `the expression ran longer than ${limits.timeoutMs} ms (an endless loop?)`);
    case "D1011":
      return new ExpressionBoundError("depth", `the expression nested calls deeper than ${limits.maxDepth} levels (endless recursion?)`);
    case "D2015":
      return inline && limits.maxItems > INLINE_BUDGET.maxItems
        ? new EscalateError("items")
        : new ExpressionBoundError("items", `the expression built a sequence of more than ${limits.maxItems} items`);
    case "D2014":
      return new ExpressionBoundError("items", `the expression built a sequence of more than ${limits.maxItems} items (a range of ${err.value})`);
    case "D3121":
      // An error inside $eval's expression: ours if it was a bound.
      return err.error ? translate(err.error, inline, limits) : err;
    default:
      if (err instanceof RangeError) return new ExpressionBoundError("bytes", `the expression built a value too large to hold (${err.message})`);
      return err;
  }
}

/** Lambdas and native functions are not data: a result holding one keeps only its data (as JSON would). */
function dataOnly(value, state) {
  if (isFunctionLike(value)) return undefined;
  if (value === null || typeof value !== "object") return value;
  const m = measure(value, state.memo, Number.MAX_SAFE_INTEGER, state.limits.maxNesting);
  if (typeof m !== "object" || !m.functions) return value;
  return JSON.parse(JSON.stringify(value, (_key, v) => (isFunctionLike(v) ? undefined : v)));
}

/**
 * Evaluates an expression against `doc` within the limits. In line (`inline: true`) it throws EscalateError
 * when the in-line budget does not suffice; otherwise ExpressionBoundError for a crossed limit, or JSONata's
 * own error object for a faulty expression.
 * @param {string} expression
 * @param {unknown} doc
 * @param {Limits} limits
 * @param {boolean} inline
 */
export async function evaluateBounded(expression, doc, limits, inline) {
  await loaded;
  const state = { inline, limits, memo: new WeakMap() };
  let result;
  try {
    const expr = compiled(expression, inline, limits);
    if (inline && analyzeExpression(expression).workerOnly) throw new EscalateError("needs a worker");
    result = await expr.evaluate(doc, { [STATE]: state });
    if (result !== undefined) checkValue(result, state, "the result");
  } catch (err) {
    throw translate(err, inline, limits);
  }
  return dataOnly(result, state);
}

