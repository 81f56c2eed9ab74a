import { ExpressionError, parseExpressions, parseExpressionsInSlices, stepExpressions } from "./expression";
import { stepEdges, unreachableSteps } from "./graph";
import { compileJsonSchema, undeclaredInputField } from "./input";
import { describeJsonPath, findExcessNesting, findNonJson, findUnsafeJsonValue, maxJsonDepth, nestingLimitText, NOT_JSON_TEXT, unsafeJsonText, type JsonPath } from "./limits";
import { SECRET_NAME_PATTERN, SECRET_NAME_RULE } from "./secret-names";
import { SECRET_STEP_KINDS } from "./secret-refs";
import { z } from "zod";
import {
  EdgeSchema,
  MAX_DEFINITION_BYTES,
  MAX_STEPS,
  StepSchema,
  WorkflowDefinitionSchema,
  type ValidationIssue,
  type WorkflowDefinition,
  type WorkflowEdge,
  type WorkflowStep,
} from "./schema";
import { getStepKind, stepKindList } from "./step-kinds";

export interface ValidationResult {
  definition?: WorkflowDefinition;
  issues: ValidationIssue[];
}

/**
 * Validates a definition before it is saved or run. Every issue names the step and field at fault and says
 * how to fix it; an empty list means the definition can run. Linear in the size of the definition.
 */
export function validateWorkflow(raw: unknown): ValidationResult {
  const work = validation(raw);
  for (;;) {
    const next = work.next();
    if (next.done) return next.value;
  }
}

/**
 * The same validation, giving the event loop back whenever it has run for `sliceMs`: on the server a large
 * definition would otherwise hold every other request until it is checked (10,000 steps take a few hundred ms).
 */
export async function validateWorkflowInSlices(raw: unknown, sliceMs = 10): Promise<ValidationResult> {
  const work = validation(raw);
  let sliceStart = performance.now();
  for (;;) {
    const next = work.next();
    if (next.done) return next.value;
    if (performance.now() - sliceStart >= sliceMs) {
      await new Promise<void>((resolve) => (typeof setImmediate === "function" ? setImmediate(resolve) : setTimeout(resolve, 0)));
      sliceStart = performance.now();
    }
  }
}

/** The definition without its lists, which are parsed item by item (between items the work may pause). */
const DefinitionShellSchema = WorkflowDefinitionSchema.extend({ steps: z.array(z.unknown()), edges: z.array(z.unknown()).optional() });

/** Validation as resumable work: it yields between small units (a step, a batch of edges), returns the result. */
function* validation(raw: unknown): Generator<void, ValidationResult, void> {
  // First, and alone: everything after it (JSON.stringify for the size, zod, the template walk, Ajv) recurses
  // once per level, so a definition nested too deep must not reach it.
  const tooDeep = definitionNestingIssue(raw);
  if (tooDeep) return { issues: [tooDeep] };
  yield;
  // Before zod, which drops a `__proto__` key without a word (and NaN in an unknown-typed field passes it).
  const unsafe = yield* definitionUnsafeValueIssue(raw);
  if (unsafe) return { issues: [unsafe] };
  const notJson = definitionJsonIssue(raw);
  if (notJson) return { issues: [notJson] };
  yield;
  const tooLarge = sizeIssue(raw);
  if (tooLarge) return { issues: [tooLarge] };
  yield;
  const shell = DefinitionShellSchema.safeParse(raw);
  const issues = shell.success ? [] : shell.error.issues.map((i) => schemaIssue(raw, i));
  const steps: WorkflowStep[] = [];
  for (const [i, item] of listAt(raw, "steps").entries()) {
    const notJson = definitionJsonIssue(raw, item, ["steps", i]);
    const step = notJson ? undefined : StepSchema.safeParse(item);
    if (notJson) issues.push(notJson);
    else if (step!.success) steps.push(step!.data);
    else for (const issue of step!.error.issues) issues.push(schemaIssue(raw, { path: ["steps", i, ...issue.path], message: issue.message }));
    yield;
  }
  const edges: WorkflowEdge[] = [];
  for (const [i, item] of listAt(raw, "edges").entries()) {
    const notJson = definitionJsonIssue(raw, item, ["edges", i]);
    const edge = notJson ? undefined : EdgeSchema.safeParse(item);
    if (notJson) issues.push(notJson);
    else if (edge!.success) edges.push(edge!.data);
    else for (const issue of edge!.error.issues) issues.push(schemaIssue(raw, { path: ["edges", i, ...issue.path], message: issue.message }));
    if (i % 256 === 255) yield;
  }
  if (!shell.success || issues.length) return { issues };
  // Same keys in the same order as a whole-schema parse gives (the saved JSON does not change).
  const definition = { ...shell.data, steps, ...(shell.data.edges !== undefined ? { edges } : {}) } as WorkflowDefinition;
  return { definition, issues: yield* semanticIssues(definition) };
}

function listAt(raw: unknown, key: "steps" | "edges"): unknown[] {
  const value = raw && typeof raw === "object" ? (raw as Record<string, unknown>)[key] : undefined;
  return Array.isArray(value) ? value : [];
}

/** The size bounds (steps, bytes of JSON), checked first so an oversized definition costs no more work. */
function sizeIssue(raw: unknown): ValidationIssue | undefined {
  const steps = listAt(raw, "steps").length;
  if (steps > MAX_STEPS)
    return {
      code: "DEFINITION_TOO_LARGE",
      message: `steps: the workflow has ${steps.toLocaleString("en-US")} steps, more than the limit of ${MAX_STEPS.toLocaleString("en-US")}; split it into workflows that call each other (workflow steps)`,
      field: "steps",
    };
  let json: string;
  try {
    json = JSON.stringify(raw) ?? "";
  } catch {
    return undefined; // not JSON at all: the schema says what is wrong
  }
  // UTF-8 takes at least one byte per UTF-16 unit and at most three: count exactly only when it matters.
  const bytes = json.length > MAX_DEFINITION_BYTES || json.length * 3 <= MAX_DEFINITION_BYTES ? json.length : new TextEncoder().encode(json).length;
  if (bytes > MAX_DEFINITION_BYTES)
    return {
      code: "DEFINITION_TOO_LARGE",
      message: `definition: its JSON (${megabytes(bytes)} or more) is larger than the limit of ${megabytes(MAX_DEFINITION_BYTES)}; move large texts into the run input or split the workflow into workflows that call each other (workflow steps)`,
    };
  return undefined;
}

const megabytes = (bytes: number) => `${(bytes / (1024 * 1024)).toFixed(1)} MB`;


/** The definition nested deeper than the limit, as an issue naming the step and the field it happens in. */
function definitionNestingIssue(raw: unknown): ValidationIssue | null {
  const limit = maxJsonDepth();
  const path = findExcessNesting(raw, limit);
  return path ? definitionPathIssue(raw, path, "NESTING_LIMIT", nestingLimitText(limit)) : null;
}

/**
 * A value the definition holds that JSON cannot carry (NaN, a BigInt, a function, a Map…): it would not be stored
 * as checked. Without the items of `steps` and `edges`, which the loops check one by one (between them the work
 * may pause); `at` is where `value` sits in the definition.
 */
function definitionJsonIssue(raw: unknown, value: unknown = shellOf(raw), at: JsonPath = []): ValidationIssue | null {
  const found = findNonJson(value);
  return found ? definitionPathIssue(raw, [...at, ...found.path], "NOT_JSON", `${found.what} ${NOT_JSON_TEXT}`) : null;
}

/** The definition with its lists emptied (a plain object only: anything else is checked whole). */
function shellOf(raw: unknown): unknown {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) return raw;
  const proto = Object.getPrototypeOf(raw) as object | null;
  if (proto !== Object.prototype && proto !== null) return raw;
  const shell: Record<string, unknown> = { ...(raw as Record<string, unknown>) };
  for (const key of ["steps", "edges"]) if (Array.isArray(shell[key])) shell[key] = [];
  return shell;
}

/** An issue about the value at `path` of the definition, naming the step and its field when it is inside a step. */
function definitionPathIssue(raw: unknown, path: JsonPath, code: string, tail: string): ValidationIssue {
  if (path[0] === "steps" && typeof path[1] === "number") {
    const step = (raw as { steps: Array<{ id?: unknown }> }).steps[path[1]];
    const stepId = typeof step?.id === "string" ? step.id : undefined;
    // The step's own field (`config.output`, `outputSchema`); the full path is too long to be of use.
    const rest = path.slice(2);
    const fieldKeys = rest[0] === "config" && rest.length > 1 ? rest.slice(0, 2) : rest.slice(0, 1);
    const field = fieldKeys.length ? fieldKeys.join(".") : undefined;
    const at = describeJsonPath("", rest);
    return { code, message: `${stepId ? `step "${stepId}"` : `steps[${path[1]}]`}${field ? ` field "${field}"` : ""}${at ? ` (at ${at})` : ""}: ${tail}`, stepId, field };
  }
  const field = path.length ? String(path[0]) : undefined;
  return { code, message: `${describeJsonPath("", path) || "definition"}: ${tail}`, field };
}

/**
 * A non-finite number or a `__proto__` key in the definition, as an issue naming the step and field. Walked step by
 * step, pausing between batches, like the rest of the validation.
 */
function* definitionUnsafeValueIssue(raw: unknown): Generator<void, ValidationIssue | null, void> {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) return unsafeIssueAt(raw, findUnsafeJsonValue(raw), []);
  for (const key of Object.keys(raw)) {
    const value = (raw as Record<string, unknown>)[key];
    if (key === "steps" && Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const issue = unsafeIssueAt(raw, findUnsafeJsonValue(value[i]), ["steps", i]);
        if (issue) return issue;
        if (i % 256 === 255) yield;
      }
      continue;
    }
    const issue = key === "__proto__" ? unsafeIssueAt(raw, { path: [], problem: "proto-key" }, [key]) : unsafeIssueAt(raw, findUnsafeJsonValue(value), [key]);
    if (issue) return issue;
  }
  return null;
}

function unsafeIssueAt(raw: unknown, found: ReturnType<typeof findUnsafeJsonValue>, prefix: JsonPath): ValidationIssue | null {
  if (!found) return null;
  const path = [...prefix, ...found.path];
  const value = path.reduce<unknown>((v, k) => (v as Record<string | number, unknown> | undefined)?.[k], raw);
  const text = unsafeJsonText(found.problem, value);
  if (path[0] === "steps" && typeof path[1] === "number") {
    const step = (raw as { steps: Array<{ id?: unknown }> }).steps[path[1]];
    const stepId = typeof step?.id === "string" ? step.id : undefined;
    const rest = path.slice(2);
    const field = rest.length ? describeJsonPath("", rest, 8) : undefined;
    return { code: "INVALID_FIELD", message: `${stepId ? `step "${stepId}"` : `steps[${path[1]}]`}${field ? ` field "${field}"` : ""}: ${text}`, stepId, field };
  }
  const where = describeJsonPath("", path, 8) || "definition";
  return { code: "INVALID_FIELD", message: `${where}: ${text}`, field: where };
}

function schemaIssue(raw: unknown, issue: { path: PropertyKey[]; message: string }): ValidationIssue {
  const path = issue.path.map(String);
  if (path[0] === "steps" && path.length >= 2) {
    const step = (raw as { steps?: Array<{ id?: unknown }> })?.steps?.[Number(path[1])];
    const stepId = typeof step?.id === "string" ? step.id : undefined;
    const field = path.slice(2).join(".") || undefined;
    return {
      code: "INVALID_FIELD",
      message: `${stepId ? `step "${stepId}"` : `steps[${path[1]}]`}${field ? ` field "${field}"` : ""}: ${issue.message}`,
      stepId,
      field,
    };
  }
  if (path[0] === "edges" && path.length >= 2)
    return {
      code: "INVALID_FIELD",
      message: `edges[${path[1]}]${path[2] ? `.${path[2]}` : ""}: ${issue.message}`,
      edgeIndex: Number(path[1]),
      field: path.slice(2).join(".") || undefined,
    };
  const field = path.join(".") || undefined;
  return { code: "INVALID_FIELD", message: `${field ?? "definition"}: ${issue.message}`, field };
}

function* semanticIssues(def: WorkflowDefinition): Generator<void, ValidationIssue[], void> {
  const issues: ValidationIssue[] = [];
  const ids = new Set<string>();
  for (const step of def.steps) {
    if (ids.has(step.id))
      issues.push({
        code: "DUPLICATE_STEP_ID",
        message: `step id "${step.id}" is used more than once: give each step its own id`,
        stepId: step.id,
        field: "id",
      });
    ids.add(step.id);
  }
  if (def.steps.length === 0) issues.push({ code: "NO_STEPS", message: "the workflow has no steps: add at least one" });

  // What templates may read: the fields the input schema declares (no schema: anything) and the variables.
  const declared: Declarations = { vars: declaredVariables(def) };
  if (def.input) {
    try {
      compileJsonSchema(def.input);
      declared.inputSchema = def.input;
    } catch (err) {
      issues.push({ code: "INVALID_INPUT_SCHEMA", message: `input is not a valid JSON Schema: ${(err as Error).message}`, field: "input" });
    }
  }

  const typeOf = new Map(def.steps.map((s) => [s.id, s.type]));
  const stepsById = new Map(def.steps.map((s) => [s.id, s]));
  const routesErrors = new Set((def.edges ?? []).filter((e) => e.when === "error").map((e) => e.from));
  for (const step of def.steps)
    if (step.onError === "route" && !routesErrors.has(step.id))
      issues.push({
        code: "ROUTE_WITHOUT_ERROR_EDGE",
        message: `step "${step.id}": "onError": "route" needs an edge from it with "when": "error" (where failures go)`,
        stepId: step.id,
        field: "onError",
      });
  for (const [edgeIndex, edge] of (def.edges ?? []).entries()) {
    if (edgeIndex % 256 === 255) yield;
    for (const end of ["from", "to"] as const)
      if (!ids.has(edge[end]))
        issues.push({
          code: "UNKNOWN_EDGE_STEP",
          message: `edge ${edge.from} → ${edge.to}: "${end}" names step "${edge[end]}", which does not exist`,
          edgeIndex,
          field: end,
        });
    const fromType = typeOf.get(edge.from);
    if (edge.when === "error") {
      if (stepsById.has(edge.from) && stepsById.get(edge.from)!.onError !== "route")
        issues.push({
          code: "WHEN_ERROR_WITHOUT_ROUTE",
          message: `edge ${edge.from} → ${edge.to}: "when": "error" needs "onError": "route" on step "${edge.from}"`,
          stepId: edge.from,
          edgeIndex,
          field: "when",
        });
    } else if (edge.when !== undefined && fromType !== undefined && !getStepKind(fromType)?.routes)
      issues.push({
        code: "WHEN_ON_NON_CONDITION",
        message: `edge ${edge.from} → ${edge.to}: "when" is only allowed on edges leaving a condition step; remove it or make "${edge.from}" a condition`,
        stepId: edge.from,
        edgeIndex,
        field: "when",
      });
  }

  const expressions: PendingExpression[] = [];
  for (const step of def.steps) {
    checkStep(step, ids, issues, { stepId: step.id, prefix: "" }, expressions);
    yield;
  }
  const expressionIssues = yield* checkExpressions(expressions, declared);
  if (expressionIssues.length) issues.splice(0, issues.length, ...mergeInOrder(issues, expressionIssues));

  issues.push(...concurrencyKeyIssues(def, declared));

  const graph = stepEdges(def);
  yield;
  for (const id of unreachableSteps(graph))
    issues.push({
      code: "UNREACHABLE_STEP",
      message: `step "${id}" can never run: no edge leads to it from a start step; connect it or delete it`,
      stepId: id,
    });
  return issues;
}

/**
 * The concurrency key is evaluated once, when a run is created, against the run input and `vars` (no step has run
 * yet): it may read those and nothing else — no `steps`, no secrets (the key is stored and shown with the run).
 */
function concurrencyKeyIssues(def: WorkflowDefinition, declared: Declarations): ValidationIssue[] {
  const expression = def.concurrency?.key;
  if (expression === undefined) return [];
  const field = "concurrency.key";
  const issue = (code: string, message: string): ValidationIssue => ({ code, message: `${field}: ${message}`, field });
  const parsed = parseExpressions([expression]).get(expression)!;
  if (parsed instanceof ExpressionError) return [issue("INVALID_EXPRESSION", `${parsed.message}; write an expression over the input, e.g. input.customerId (no {{ }})`)];
  const issues: ValidationIssue[] = [];
  if (parsed.steps.length) issues.push(issue("INVALID_CONCURRENCY_KEY", `reads "steps.${parsed.steps[0]}", but the key is computed before any step runs; read the run input (input.…) or vars instead`));
  if (parsed.secrets || parsed.dynamicSecrets) issues.push(issue("INVALID_SECRET_REFERENCE", "may not read secrets: the key is stored and shown with the run"));
  if (declared.inputSchema)
    for (const path of parsed.input) {
      const missing = undeclaredInputField(declared.inputSchema, path);
      if (missing)
        issues.push(issue("UNDECLARED_INPUT_FIELD", `reads "input.${path.slice(0, missing.at + 1).join(".")}", which the input schema does not declare${declaredList(missing.declared)}; declare it in the input schema or correct the name`));
    }
  for (const name of parsed.vars)
    if (!(def.vars && Object.hasOwn(def.vars, name)))
      issues.push(issue("UNDECLARED_VARIABLE", `reads "vars.${name}", which the workflow's vars do not declare with an initial value (the key is computed before any step assigns one)`));
  return issues;
}

/** Kinds a map step may run per item (no pausing, routing or nesting inside an item). */
export const MAP_ITEM_KINDS = ["llm", "transform", "http", "code"];

/**
 * Checks one step: its kind, config (zod schema of the kind), output schema, every expression and template
 * reference. `where` names the top-level step issues belong to and the field prefix (steps inside a map).
 */
/** An expression of a step, checked once all are collected (they are parsed in batches). */
interface PendingExpression {
  expression: string;
  /** Written inside `{{ }}` (else a bare expression: a condition, an `assign`). */
  template: boolean;
  /** The kind of the step it belongs to (a map item step's own kind). */
  kind: string;
  stepId: string;
  field: string;
  /** `step "…" field "…"`, the start of its issues' messages. */
  named: string;
  /** Which step ids it may refer to. */
  known: { has(id: string): boolean };
  /** Where in the issue list its issues go, to keep the order of one pass over the steps. */
  at: number;
}

/** What a workflow declares for its templates to read. */
interface Declarations {
  /** The input schema, when there is a valid one (without one, input fields are not checked). */
  inputSchema?: Record<string, unknown>;
  /** `vars` and every `assign` target (of map item steps too). */
  vars: Set<string>;
}

function declaredVariables(def: WorkflowDefinition): Set<string> {
  const names = new Set(Object.keys(def.vars ?? {}));
  const pending: unknown[] = [...def.steps];
  while (pending.length) {
    const step = pending.pop() as Partial<WorkflowStep> | undefined;
    if (!step || typeof step !== "object") continue;
    if (step.assign && typeof step.assign === "object") for (const name of Object.keys(step.assign)) names.add(name);
    const inner = step.type === "map" ? (step.config as { steps?: unknown } | undefined)?.steps : undefined;
    if (Array.isArray(inner)) pending.push(...inner);
  }
  return names;
}

const quoted = (p: PendingExpression) => {
  const text = p.expression.length > 80 ? `${p.expression.slice(0, 80)}…` : p.expression;
  return p.template ? `{{ ${text} }}` : `"${text}"`;
};

const declaredList = (names: string[]) => (names.length === 0 ? " (it declares none)" : names.length <= 8 ? ` (it declares ${names.join(", ")})` : "");

function* checkExpressions(pending: PendingExpression[], declared: Declarations): Generator<void, Array<{ at: number; issue: ValidationIssue }>, void> {
  const parsed = yield* parseExpressionsInSlices(pending.map((p) => p.expression));
  const found: Array<{ at: number; issue: ValidationIssue }> = [];
  // One issue per reference and field, however often the field repeats it.
  const reported = new Set<string>();
  const report = (p: PendingExpression, code: string, message: string) => {
    const key = `${p.stepId}\u0000${p.field}\u0000${message}`;
    if (reported.has(key)) return;
    reported.add(key);
    found.push({ at: p.at, issue: { code, message, stepId: p.stepId, field: p.field } });
  };
  for (const p of pending) {
    const result = parsed.get(p.expression)!;
    if (result instanceof ExpressionError) {
      found.push({ at: p.at, issue: { code: "INVALID_EXPRESSION", message: `${p.named}: ${result.message}`, stepId: p.stepId, field: p.field } });
      continue;
    }
    for (const ref of result.steps)
      if (!p.known.has(ref))
        found.push({ at: p.at, issue: { code: "UNKNOWN_STEP_REFERENCE", message: `${p.named}: "steps.${ref}" refers to a step that does not exist`, stepId: p.stepId, field: p.field } });
    if (declared.inputSchema)
      for (const path of result.input) {
        const missing = undeclaredInputField(declared.inputSchema, path);
        if (!missing) continue;
        const name = path[missing.at];
        const parent = path.slice(0, missing.at).join(".");
        report(
          p,
          "UNDECLARED_INPUT_FIELD",
          `${p.named}: ${quoted(p)} reads "input.${path.slice(0, missing.at + 1).join(".")}", which the input schema does not declare${declaredList(missing.declared)}; declare \`${name}\`${parent ? ` under \`${parent}\`` : ""} in the input schema or correct the name`,
        );
      }
    for (const problem of secretProblems(p, result)) report(p, "INVALID_SECRET_REFERENCE", `${p.named}: ${problem}`);
    for (const name of result.vars)
      if (!declared.vars.has(name))
        report(
          p,
          "UNDECLARED_VARIABLE",
          `${p.named}: ${quoted(p)} reads "vars.${name}", a variable the workflow does not declare${declaredList([...declared.vars])}; declare \`${name}\` in vars with its initial value (or set it in a step's assign) or correct the name`,
        );
  }
  return found;
}

/** Why a step kind may not name secrets (see SECRET_STEP_KINDS). */
const SECRETS_REFUSED: Record<string, string> = {
  workflow: "its input is stored as the sub-workflow run's input; the sub-workflow can use {{ secrets.NAME }} itself (it runs as the same user)",
  approval: "its message is stored with the run and shown to whoever decides",
  wait_webhook: "its message is stored with the run",
  map: "its items are stored with the run; use secrets in the config of its item steps",
};

/**
 * Secrets are read only as `{{ secrets.NAME }}` in the config templates of the kinds that send them out: never by
 * a computed name, in a bare expression (a condition steers the run by the value) or in `assign` (vars are stored
 * with the run), so a run knows statically which secrets it needs and where they can end up.
 */
function secretProblems(p: PendingExpression, reads: { secrets?: string[]; dynamicSecrets?: true }): string[] {
  if (!reads.secrets && !reads.dynamicSecrets) return [];
  const problems: string[] = [];
  if (reads.dynamicSecrets)
    problems.push(`${quoted(p)} reads secrets without naming one; write {{ secrets.NAME }} with the name as listed on the Settings page (secrets cannot be listed or looked up by a computed name)`);
  if (!reads.secrets) return problems;
  const isAssign = /^(config\.steps\.\d+\.)?assign\./.test(p.field);
  if (isAssign) problems.push(`${quoted(p)} reads a secret in assign: vars are stored with the run; use {{ secrets.NAME }} directly in the config of the step that needs it`);
  else if (!p.template) problems.push(`${quoted(p)} reads a secret in a bare expression: secrets can only be used inside {{ }} templates of a step's config`);
  else if (!SECRET_STEP_KINDS.includes(p.kind))
    problems.push(`a ${p.kind} step cannot use secrets (${SECRETS_REFUSED[p.kind] ?? "what it renders is stored with the run"}); use them in ${SECRET_STEP_KINDS.join(", ")} steps`);
  for (const name of reads.secrets)
    if (!SECRET_NAME_PATTERN.test(name)) problems.push(`"secrets.${name}" is not a valid secret name: names are ${SECRET_NAME_RULE}`);
  return problems;
}

/** `issues` with each of `extra` inserted at its position `at` (positions in `issues`, ascending). */
function mergeInOrder(issues: ValidationIssue[], extra: Array<{ at: number; issue: ValidationIssue }>): ValidationIssue[] {
  const merged: ValidationIssue[] = [];
  let j = 0;
  for (let i = 0; i <= issues.length; i++) {
    while (j < extra.length && extra[j].at === i) merged.push(extra[j++].issue);
    if (i < issues.length) merged.push(issues[i]);
  }
  return merged;
}

function checkStep(
  step: WorkflowStep,
  ids: { has(id: string): boolean },
  issues: ValidationIssue[],
  where: { stepId: string; prefix: string },
  pending: PendingExpression[],
) {
  const label = where.prefix ? `step "${where.stepId}" field "${where.prefix.slice(0, -1)}"` : `step "${step.id}"`;
  const kind = getStepKind(step.type);
  if (!kind) {
    issues.push({
      code: "UNKNOWN_STEP_TYPE",
      message: `${label}: unknown type "${step.type}"; use one of ${(where.prefix ? MAP_ITEM_KINDS : stepKindList.map((k) => k.kind)).join(", ")}`,
      stepId: where.stepId,
      field: `${where.prefix}type`,
    });
    return;
  }
  const at = (field: string) => `${where.prefix}${field}`;
  const named = (field: string) => `step "${where.stepId}" field "${at(field)}"`;
  if (step.outputSchema) {
    try {
      compileJsonSchema(step.outputSchema);
    } catch (err) {
      issues.push({ code: "INVALID_OUTPUT_SCHEMA", message: `${named("outputSchema")}: not a valid JSON Schema: ${(err as Error).message}`, stepId: where.stepId, field: at("outputSchema") });
    }
  }
  const config = kind.configSchema.safeParse(step.config);
  if (!config.success)
    for (const i of config.error.issues) {
      const field = ["config", ...i.path.map(String)].join(".");
      const given = i.path.reduce<unknown>((value, key) => (value && typeof value === "object" ? (value as Record<PropertyKey, unknown>)[key as PropertyKey] : undefined), step.config);
      // A cross-field rule (llm: prompt or messages) reports the field it needs; empty there means missing.
      const missing = (i.code === "invalid_type" && (i as { input?: unknown }).input === undefined) || (i.code === "custom" && (given === undefined || given === ""));
      issues.push({
        code: missing ? "MISSING_CONFIG" : "INVALID_CONFIG",
        message: `${named(field)}: ${missing && i.code !== "custom" ? `is required (${i.message})` : i.message}`,
        stepId: where.stepId,
        field: at(field),
      });
    }

  for (const { field, expression, template } of stepExpressions(step, kind)) {
    if (!expression) issues.push({ code: "INVALID_EXPRESSION", message: `${named(field)}: empty {{ }} placeholder`, stepId: where.stepId, field: at(field) });
    else pending.push({ expression, template, kind: step.type, stepId: where.stepId, field: at(field), named: named(field), known: ids, at: issues.length });
  }

  // A map's steps run per item: their own kinds, ids and references (to earlier item steps and outer steps).
  if (step.type === "map" && config.success && Array.isArray(step.config.steps)) {
    const inner = step.config.steps as WorkflowStep[];
    // Outer ids plus the item steps so far, without copying the outer set for every map step.
    const seenInside = new Set<string>();
    const itemSteps = new Map<string, number>();
    for (const [i, child] of inner.entries()) {
      const prefix = `config.steps.${i}.`;
      const duplicate = seenInside.has(child.id);
      seenInside.add(child.id);
      if (!MAP_ITEM_KINDS.includes(child.type)) {
        issues.push({
          code: "UNKNOWN_STEP_TYPE",
          message: `step "${where.stepId}" field "${prefix}type": "${child.type}" cannot run inside a map; use one of ${MAP_ITEM_KINDS.join(", ")}`,
          stepId: where.stepId,
          field: `${prefix}type`,
        });
        continue;
      }
      if (duplicate)
        issues.push({ code: "DUPLICATE_STEP_ID", message: `step "${where.stepId}" field "${prefix}id": "${child.id}" is used twice`, stepId: where.stepId, field: `${prefix}id` });
      if (!itemSteps.has(child.id)) itemSteps.set(child.id, i);
      // An item step may refer to the outer steps and to the item steps up to itself.
      checkStep(child, { has: (id) => ids.has(id) || (itemSteps.get(id) ?? Infinity) <= i }, issues, { stepId: where.stepId, prefix }, pending);
    }
  }
}

/** One line per issue, for CLI output and error messages. */
export function formatIssues(issues: ValidationIssue[]): string {
  return issues.map((i) => `- ${i.message}`).join("\n");
}
