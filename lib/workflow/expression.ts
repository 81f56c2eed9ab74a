import jsonata from "jsonata";

/**
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
const MAX_CACHE = 5000;

function describeJsonataError(err: unknown): string {
  const e = err as { message?: string; position?: number; token?: string };
  const at = typeof e.position === "number" ? ` (at character ${e.position})` : "";
  return `${e.message ?? String(err)}${at}`;
}

export function compileExpression(expression: string): Compiled {
  let expr = compiled.get(expression);
  if (!expr) {
    try {
      expr = jsonata(expression);
    } catch (err) {
      throw new ExpressionError(`invalid expression "${expression}": ${describeJsonataError(err)}`, expression);
    }
    if (compiled.size >= MAX_CACHE) compiled.clear();
    compiled.set(expression, expr);
  }
  return expr;
}

export async function evaluateExpression(expression: string, context: ExpressionContext): Promise<unknown> {
  const expr = compileExpression(expression);
  try {
    return await expr.evaluate(context);
  } catch (err) {
    throw new ExpressionError(`expression "${expression}" failed: ${describeJsonataError(err)}`, expression);
  }
}

const PLACEHOLDER = /\{\{([\s\S]*?)\}\}/g;
const SOLE_PLACEHOLDER = /^\s*\{\{([\s\S]*?)\}\}\s*$/;

/** The expressions inside a template string's `{{ … }}` placeholders. */
export function templateExpressions(template: string): string[] {
  return [...template.matchAll(PLACEHOLDER)].map((m) => m[1].trim());
}

function toText(value: unknown): string {
  if (value === undefined || value === null) return "";
  if (typeof value === "string") return value;
  return JSON.stringify(value);
}

/**
 * Renders a string template. A string that is exactly one placeholder yields the raw value (a number, an
 * object); otherwise each placeholder's value is interpolated as text.
 */
export async function renderTemplate(template: string, context: ExpressionContext): Promise<unknown> {
  const sole = SOLE_PLACEHOLDER.exec(template);
  if (sole && templateExpressions(template).length === 1) return evaluateExpression(sole[1].trim(), context);
  if (!template.includes("{{")) return template;
  let result = "";
  let last = 0;
  for (const match of template.matchAll(PLACEHOLDER)) {
    result += template.slice(last, match.index) + toText(await evaluateExpression(match[1].trim(), context));
    last = match.index + match[0].length;
  }
  return result + template.slice(last);
}

/** Renders every string inside a JSON value (objects and arrays recursively). */
export async function renderValue(value: unknown, context: ExpressionContext): Promise<unknown> {
  if (typeof value === "string") return renderTemplate(value, context);
  if (Array.isArray(value)) return Promise.all(value.map((v) => renderValue(v, context)));
  if (value && typeof value === "object") {
    const entries = await Promise.all(
      Object.entries(value).map(async ([k, v]) => [k, await renderValue(v, context)] as const),
    );
    return Object.fromEntries(entries);
  }
  return value;
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
  const visit = (node: unknown) => {
    if (!node || typeof node !== "object") return;
    if (Array.isArray(node)) return node.forEach(visit);
    const n = node as AstNode;
    if (n.type === "path" && Array.isArray(n.steps)) {
      const [head, next] = n.steps;
      if (head?.type === "name" && head.value === "steps" && next?.type === "name" && typeof next.value === "string")
        found.add(next.value);
    }
    for (const child of Object.values(n)) visit(child);
  };
  visit(ast);
  return [...found];
}
