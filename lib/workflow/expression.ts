import jsonata from "jsonata";
import type { WorkflowStep } from "./schema";
import type { StepKindSpec } from "./step-kinds";

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
  /** The secrets the step's config templates name (only those; never given to code or to `assign`). */
  secrets?: Record<string, string>;
  /** Inside a map step: the current item and its 0-based position. */
  item?: unknown;
  index?: number;
}

export class ExpressionError extends Error {
  constructor(
    message: string,
    readonly expression: string,
  ) {
    super(message);
    this.name = "ExpressionError";
  }
}

/** Longest expression inside one placeholder (the parser recurses on nesting; templates around it may be longer). */
export const MAX_EXPRESSION_LENGTH = 20_000;

const shorten = (text: string) => (text.length > 200 ? `${text.slice(0, 200)}…` : text);

function describeJsonataError(err: unknown): string {
  const e = err as { message?: string; position?: number; token?: string };
  const at = typeof e.position === "number" ? ` (at character ${e.position})` : "";
  return `${e.message ?? String(err)}${at}`;
}


export const PLACEHOLDER = /\{\{([\s\S]*?)\}\}/g;
export const SOLE_PLACEHOLDER = /^\s*\{\{([\s\S]*?)\}\}\s*$/;

/** The expressions inside a template string's `{{ … }}` placeholders. */
export function templateExpressions(template: string): string[] {
  return [...template.matchAll(PLACEHOLDER)].map((m) => m[1].trim());
}

/**
 * The expressions a step evaluates, with the field each sits in: bare-expression fields, every `{{ }}` placeholder
 * in the rest of its config (raw fields, such as code or a map's item steps, excepted), and `assign` (a template,
 * or a bare expression; `template` tells which). The validator checks them; the engine works out from them which
 * outputs a step reads.
 */
export function stepExpressions(
  step: Pick<WorkflowStep, "config" | "assign">,
  kind: Pick<StepKindSpec, "expressionFields" | "rawFields">,
): Array<{ field: string; expression: string; template: boolean }> {
  const found: Array<{ field: string; expression: string; template: boolean }> = [];
  for (const { path, text } of collectStrings(step.config, "config")) {
    const name = path.slice("config.".length);
    if (kind.rawFields?.includes(name.split(/[.[]/)[0])) continue;
    if (kind.expressionFields.includes(name)) found.push({ field: path, expression: text, template: false });
    else for (const expression of templateExpressions(text)) found.push({ field: path, expression, template: true });
  }
  for (const [name, text] of Object.entries(step.assign ?? {})) {
    const inner = templateExpressions(text);
    if (inner.length) for (const expression of inner) found.push({ field: `assign.${name}`, expression, template: true });
    else found.push({ field: `assign.${name}`, expression: text, template: false });
  }
  return found;
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
  expressions?: AstNode[];
  position?: number;
  [key: string]: unknown;
}

/** Step ids an expression reads through `steps.<id>` (found in the parsed AST, not by regex). */
export function referencedStepIds(expression: string): string[] {
  return expressionReads(expression).steps;
}

/** What an expression reads, as far as its text tells (throws ExpressionError for a faulty one). */
export function expressionReads(expression: string): ExpressionReads {
  const parsed = parseExpressions([expression]).get(expression)!;
  if (parsed instanceof ExpressionError) throw parsed;
  return parsed;
}

/**
 * What an expression reads, found in its parsed AST: the step ids of `steps.<id>` anywhere, and — only where the
 * names are statically known and relative to the root (not inside a predicate, a later path step or a group,
 * where `input` would name a field of the current item) — the `input` fields it reads as paths of names
 * (`input.address.zip` → ["address", "zip"], up to the first step that is not a plain name) and the `vars` it
 * reads by name. Dynamic access (`input[$k]`, `$lookup(vars, k)`, `$`) names nothing here.
 *
 * `secrets`: the names read as `secrets.NAME` from the root; `dynamicSecrets`: `secrets` read any other way
 * (`$keys(secrets)`, `secrets[0]`, `$$.secrets.NAME`), which validation refuses. Both only when present.
 */
export interface ExpressionReads {
  steps: string[];
  input: string[][];
  vars: string[];
  secrets?: string[];
  dynamicSecrets?: true;
}

function readsIn(ast: AstNode): ExpressionReads {
  const steps = new Set<string>();
  const input = new Map<string, string[]>();
  const vars = new Set<string>();
  const secrets = new Set<string>();
  let dynamicSecrets = false;
  // Breadth first, iteratively (nesting can be deep): ids come out in reading order. `atRoot`: evaluated against
  // the root context ({ input, steps, vars, … }), so a path headed by `input` there reads the run input.
  const queue: Array<{ node: unknown; atRoot: boolean }> = [{ node: ast, atRoot: true }];
  const seen = new Set<unknown>();
  for (let i = 0; i < queue.length; i++) {
    const { node, atRoot } = queue[i];
    if (!node || typeof node !== "object" || seen.has(node)) continue;
    seen.add(node);
    if (Array.isArray(node)) {
      for (const child of node) queue.push({ node: child, atRoot });
      continue;
    }
    const n = node as AstNode;
    if (n.type === "path" && Array.isArray(n.steps)) {
      const [head, next] = n.steps;
      if (head?.type === "name" && head.value === "steps" && next?.type === "name" && typeof next.value === "string") steps.add(next.value);
      if (atRoot && head?.type === "name" && !head.focus && !head.index && !head.tuple) {
        const names = plainNames(n.steps);
        if (head.value === "input" && names.length) input.set(names.join("\u0000"), names);
        if (head.value === "vars" && names.length) vars.add(names[0]);
      }
      if (atRoot && head?.type === "name" && head.value === "secrets") {
        const plain = !head.focus && !head.index && !head.tuple && !head.stages && !head.predicate && !head.group;
        const name = next?.type === "name" && typeof next.value === "string" && !next.stages && !next.predicate && !next.focus && !next.index && !next.tuple ? next.value : undefined;
        if (plain && name !== undefined) secrets.add(name);
        else dynamicSecrets = true;
      }
      // The root as a value (`$$.secrets`, `$.secrets`) reaches secrets without naming them statically.
      if (head?.type === "variable" && (head.value === "$" || head.value === "") && next?.type === "name" && next.value === "secrets") dynamicSecrets = true;
      // The first step is evaluated where the path is; its predicates, the later steps and a group per item.
      n.steps.forEach((step, s) => {
        for (const [key, child] of Object.entries(step))
          if (child && typeof child === "object") queue.push({ node: child, atRoot: atRoot && s === 0 && key !== "stages" && key !== "predicate" && key !== "group" });
      });
      for (const [key, child] of Object.entries(n)) if (key !== "steps" && child && typeof child === "object") queue.push({ node: child, atRoot: false });
      continue;
    }
    // A transform (`| … |`) evaluates its parts against the value it copies.
    const keepsRoot = atRoot && n.type !== "transform";
    for (const child of Object.values(n)) if (child && typeof child === "object") queue.push({ node: child, atRoot: keepsRoot });
  }
  return {
    steps: [...steps],
    input: [...input.values()],
    vars: [...vars],
    ...(secrets.size ? { secrets: [...secrets] } : {}),
    ...(dynamicSecrets ? { dynamicSecrets: true as const } : {}),
  };
}

/** The field names after a path's head, while each step is a plain name (a filter keeps the shape; anything else may not). */
function plainNames(pathSteps: AstNode[]): string[] {
  const names: string[] = [];
  for (const step of pathSteps.slice(1)) {
    if (step.type !== "name" || typeof step.value !== "string") break;
    names.push(step.value);
    const filtersOnly = ((step.stages ?? []) as AstNode[]).every((stage) => stage.type === "filter") && !step.predicate;
    if (!filtersOnly || step.focus || step.index || step.tuple || step.group) break;
  }
  return names;
}

/** What parsing an expression found: what it reads, or what is wrong with it. */
export type ParsedExpression = ExpressionReads | ExpressionError;

const parsedCache = new Map<string, ParsedExpression>();
const MAX_PARSED_CACHE = 100_000;
/**
 * Expressions parsed together: JSONata's parser costs ~70 µs of set-up per call, so one call per batch of about
 * this many characters (a few milliseconds of parsing, between which the caller may take a turn).
 */
const BATCH_CHARS = 16 * 1024;

/** parseExpressions, giving the caller a turn between batches (see validateWorkflowInSlices). */
export function* parseExpressionsInSlices(expressions: readonly string[]): Generator<void, Map<string, ParsedExpression>, void> {
  const results = new Map<string, ParsedExpression>();
  const todo: string[] = [];
  for (const expression of new Set(expressions)) {
    const known = parsedCache.get(expression);
    if (known) results.set(expression, known);
    else if (expression.length > MAX_EXPRESSION_LENGTH)
      results.set(expression, new ExpressionError(`the expression is ${expression.length} characters long, more than the limit of ${MAX_EXPRESSION_LENGTH}; split it or move data into the input`, shorten(expression)));
    else todo.push(expression);
  }
  for (let start = 0; start < todo.length; ) {
    let end = start;
    for (let chars = 0; end < todo.length && (end === start || chars + todo[end].length <= BATCH_CHARS); end++) chars += todo[end].length + 4;
    parseBatch(todo.slice(start, end), results);
    start = end;
    yield;
  }
  for (const expression of todo) {
    if (parsedCache.size >= MAX_PARSED_CACHE) parsedCache.delete(parsedCache.keys().next().value!);
    parsedCache.set(expression, results.get(expression)!);
  }
  return results;
}

/** Parses expressions (syntax and what they read) in few parser calls. */
export function parseExpressions(expressions: readonly string[]): Map<string, ParsedExpression> {
  const work = parseExpressionsInSlices(expressions);
  for (;;) {
    const next = work.next();
    if (next.done) return next.value;
  }
}

/**
 * One parse of `[(e1\n), (e2\n), …]`. It stands for the expressions one by one only if it yields one block per
 * expression, each opening where its wrapper does and holding one expression (so no expression's text reached
 * into its neighbours'); otherwise the batch is halved until the faulty expressions are parsed alone.
 */
function parseBatch(batch: string[], results: Map<string, ParsedExpression>) {
  if (batch.length === 1) return void results.set(batch[0], parseOne(batch[0]));
  const opens: number[] = [];
  let text = "[";
  for (const [i, expression] of batch.entries()) {
    if (i) text += ",";
    opens.push(text.length);
    text += `(${expression}\n)`;
  }
  text += "]";
  let elements: AstNode[] | undefined;
  try {
    const ast = jsonata(text).ast() as AstNode;
    if (ast.type === "unary" && ast.value === "[" && ast.expressions?.length === batch.length) elements = ast.expressions;
  } catch {
    // a faulty expression in the batch: found below
  }
  const whole = elements?.every((e, i) => e.type === "block" && e.position === opens[i] + 1 && e.expressions?.length === 1);
  if (whole) return batch.forEach((expression, i) => results.set(expression, readsIn(elements![i])));
  const half = Math.ceil(batch.length / 2);
  parseBatch(batch.slice(0, half), results);
  parseBatch(batch.slice(half), results);
}

function parseOne(expression: string): ParsedExpression {
  try {
    return readsIn(jsonata(expression).ast() as AstNode);
  } catch (err) {
    // The parser recurses once per nesting level: thousands of brackets overflow its stack.
    if (err instanceof RangeError) return new ExpressionError("the expression is nested too deeply to read; simplify it", shorten(expression));
    return new ExpressionError(`invalid expression "${shorten(expression)}": ${describeJsonataError(err)}`, expression);
  }
}
