import jsonata from "jsonata";

/**
 * Parsing and static checks of expressions (pure). Evaluating them is the engine's job (lib/engine/expressions):
 * it bounds time, depth and size, which a pure module cannot enforce.
 *
 * Expressions and templates use JSONata: a safe, well-kept expression language (no eval) with natural arithmetic
 * on JSON numbers (`vars.n + 1`), member access (`steps.draft.text`), comparisons (`=`, `!=`, `<`, `>=`) and
 * boolean logic (`and`, `or`, `$not(x)`). The context has `input`, `steps.<id>` (latest output) and `vars`.
 */

export interface ExpressionContext {
  input: unknown;
  steps: Record<string, unknown>;
  vars: Record<string, unknown>;
  /** Inside a map step: the current item and its 0-based position. */
  item?: unknown;
  index?: number;
}

type Compiled = ReturnType<typeof jsonata>;

export class ExpressionError extends Error {
  constructor(
    message: string,
    readonly expression: string,
  ) {
    super(message);
    this.name = "ExpressionError";
  }
}

const compiled = new Map<string, Compiled>();
/** A parsed expression holds ~16 KB: keep the most recently used ones. */
const MAX_CACHE = 1000;

const shorten = (text: string) => (text.length > 200 ? `${text.slice(0, 200)}…` : text);

function describeJsonataError(err: unknown): string {
  const e = err as { message?: string; position?: number; token?: string };
  const at = typeof e.position === "number" ? ` (at character ${e.position})` : "";
  return `${e.message ?? String(err)}${at}`;
}

/** Longest expression inside one placeholder (the parser recurses on nesting; templates around it may be longer). */
export const MAX_EXPRESSION_LENGTH = 20_000;

/**
 * Parses an expression (for validation; evaluation goes through lib/engine/expressions, which bounds it).
 * Throws ExpressionError naming what is wrong.
 */
export function compileExpression(expression: string): Compiled {
  let expr = compiled.get(expression);
  if (!expr) {
    if (expression.length > MAX_EXPRESSION_LENGTH)
      throw new ExpressionError(`the expression is ${expression.length} characters long, more than the limit of ${MAX_EXPRESSION_LENGTH}; split it or move data into the input`, expression);
    try {
      expr = jsonata(expression);
    } catch (err) {
      // The parser recurses once per nesting level: thousands of brackets overflow its stack.
      if (err instanceof RangeError) throw new ExpressionError(`the expression is nested too deeply to read; simplify it`, shorten(expression));
      throw new ExpressionError(`invalid expression "${shorten(expression)}": ${describeJsonataError(err)}`, expression);
    }
    if (compiled.size >= MAX_CACHE) compiled.delete(compiled.keys().next().value!);
  } else compiled.delete(expression);
  compiled.set(expression, expr);
  return expr;
}

export const PLACEHOLDER = /\{\{([\s\S]*?)\}\}/g;
export const SOLE_PLACEHOLDER = /^\s*\{\{([\s\S]*?)\}\}\s*$/;

/** The expressions inside a template string's `{{ … }}` placeholders. */
export function templateExpressions(template: string): string[] {
  return [...template.matchAll(PLACEHOLDER)].map((m) => m[1].trim());
}

/** Every string in a JSON value together with its dotted path (used to validate templates). */
export function collectStrings(value: unknown, path: string, out: Array<{ path: string; text: string }> = []) {
  if (typeof value === "string") out.push({ path, text: value });
  else if (Array.isArray(value)) value.forEach((v, i) => collectStrings(v, `${path}[${i}]`, out));
  else if (value && typeof value === "object")
    for (const [k, v] of Object.entries(value)) collectStrings(v, path ? `${path}.${k}` : k, out);
  return out;
}

interface AstNode {
  type?: string;
  value?: unknown;
  steps?: AstNode[];
  [key: string]: unknown;
}

/** Step ids an expression reads through `steps.<id>` (found in the parsed AST, not by regex). */
export function referencedStepIds(expression: string): string[] {
  const ast = compileExpression(expression).ast() as AstNode;
  const found = new Set<string>();
  // Breadth first, iteratively (nesting can be deep): ids come out in reading order.
  const queue: unknown[] = [ast];
  const seen = new Set<unknown>();
  for (let i = 0; i < queue.length; i++) {
    const node = queue[i];
    if (!node || typeof node !== "object" || seen.has(node)) continue;
    seen.add(node);
    if (Array.isArray(node)) {
      queue.push(...node);
      continue;
    }
    const n = node as AstNode;
    if (n.type === "path" && Array.isArray(n.steps)) {
      const [head, next] = n.steps;
      if (head?.type === "name" && head.value === "steps" && next?.type === "name" && typeof next.value === "string")
        found.add(next.value);
    }
    for (const child of Object.values(n)) if (child && typeof child === "object") queue.push(child);
  }
  return [...found];
}
