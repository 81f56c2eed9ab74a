import { collectStrings, compileExpression, ExpressionError, referencedStepIds, templateExpressions } from "./expression";
import { buildGraph, unreachableSteps } from "./graph";
import { compileJsonSchema } from "./input";
import { describeJsonPath, findExcessNesting, maxJsonDepth, nestingLimitText } from "./limits";
import { WorkflowDefinitionSchema, type ValidationIssue, type WorkflowDefinition, type WorkflowStep } from "./schema";
import { getStepKind, stepKindList } from "./step-kinds";

/**
 * Validates a definition before it is saved or run. Every issue names the step and field at fault and says
 * how to fix it; an empty list means the definition can run.
 */
export function validateWorkflow(raw: unknown): { definition?: WorkflowDefinition; issues: ValidationIssue[] } {
  // First, and alone: everything after it (zod, the template walk, Ajv, JSON.stringify of the run row) recurses
  // once per level, so a definition nested too deep must not reach it.
  const tooDeep = definitionNestingIssue(raw);
  if (tooDeep) return { issues: [tooDeep] };
  const parsed = WorkflowDefinitionSchema.safeParse(raw);
  if (!parsed.success) return { issues: parsed.error.issues.map((i) => schemaIssue(raw, i)) };
  const definition = parsed.data;
  return { definition, issues: semanticIssues(definition) };
}

/** The definition nested deeper than the limit, as an issue naming the step and the field it happens in. */
function definitionNestingIssue(raw: unknown): ValidationIssue | null {
  const limit = maxJsonDepth();
  const path = findExcessNesting(raw, limit);
  if (!path) return null;
  const code = "NESTING_LIMIT";
  const tail = nestingLimitText(limit);
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

function semanticIssues(def: WorkflowDefinition): ValidationIssue[] {
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

  if (def.input) {
    try {
      compileJsonSchema(def.input);
    } catch (err) {
      issues.push({ code: "INVALID_INPUT_SCHEMA", message: `input is not a valid JSON Schema: ${(err as Error).message}`, field: "input" });
    }
  }

  const typeOf = new Map(def.steps.map((s) => [s.id, s.type]));
  const stepsById = new Map(def.steps.map((s) => [s.id, s]));
  for (const step of def.steps)
    if (step.onError === "route" && !(def.edges ?? []).some((e) => e.from === step.id && e.when === "error"))
      issues.push({
        code: "ROUTE_WITHOUT_ERROR_EDGE",
        message: `step "${step.id}": "onError": "route" needs an edge from it with "when": "error" (where failures go)`,
        stepId: step.id,
        field: "onError",
      });
  (def.edges ?? []).forEach((edge, edgeIndex) => {
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
  });

  for (const step of def.steps) checkStep(step, ids, issues, { stepId: step.id, prefix: "" });

  const graph = buildGraph(def);
  for (const id of unreachableSteps(graph))
    issues.push({
      code: "UNREACHABLE_STEP",
      message: `step "${id}" can never run: no edge leads to it from a start step; connect it or delete it`,
      stepId: id,
    });
  return issues;
}

/** Kinds a map step may run per item (no pausing, routing or nesting inside an item). */
export const MAP_ITEM_KINDS = ["llm", "transform", "http", "code"];

/**
 * Checks one step: its kind, config (zod schema of the kind), output schema, every expression and template
 * reference. `where` names the top-level step issues belong to and the field prefix (steps inside a map).
 */
function checkStep(step: WorkflowStep, ids: Set<string>, issues: ValidationIssue[], where: { stepId: string; prefix: string }) {
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

  // Expressions: bare-expression fields, every {{ template }} in config, and assign expressions.
  const expressions: Array<{ field: string; expression: string }> = [];
  for (const { path, text } of collectStrings(step.config, "config")) {
    const name = path.slice("config.".length);
    if (kind.rawFields?.includes(name.split(/[.[]/)[0])) continue;
    if (kind.expressionFields.includes(name)) expressions.push({ field: path, expression: text });
    else for (const expression of templateExpressions(text)) expressions.push({ field: path, expression });
  }
  for (const [name, text] of Object.entries(step.assign ?? {})) {
    const inner = templateExpressions(text);
    for (const expression of inner.length ? inner : [text]) expressions.push({ field: `assign.${name}`, expression });
  }
  for (const { field, expression } of expressions) {
    if (!expression) {
      issues.push({ code: "INVALID_EXPRESSION", message: `${named(field)}: empty {{ }} placeholder`, stepId: where.stepId, field: at(field) });
      continue;
    }
    try {
      compileExpression(expression);
    } catch (err) {
      issues.push({ code: "INVALID_EXPRESSION", message: `${named(field)}: ${err instanceof ExpressionError ? err.message : String(err)}`, stepId: where.stepId, field: at(field) });
      continue;
    }
    for (const ref of referencedStepIds(expression))
      if (!ids.has(ref))
        issues.push({ code: "UNKNOWN_STEP_REFERENCE", message: `${named(field)}: "steps.${ref}" refers to a step that does not exist`, stepId: where.stepId, field: at(field) });
  }

  // A map's steps run per item: their own kinds, ids and references (to earlier item steps and outer steps).
  if (step.type === "map" && config.success && Array.isArray(step.config.steps)) {
    const inner = step.config.steps as WorkflowStep[];
    const known = new Set(ids);
    for (const [i, child] of inner.entries()) {
      const prefix = `config.steps.${i}.`;
      if (!MAP_ITEM_KINDS.includes(child.type)) {
        issues.push({
          code: "UNKNOWN_STEP_TYPE",
          message: `step "${where.stepId}" field "${prefix}type": "${child.type}" cannot run inside a map; use one of ${MAP_ITEM_KINDS.join(", ")}`,
          stepId: where.stepId,
          field: `${prefix}type`,
        });
        continue;
      }
      if (known.has(child.id) && inner.findIndex((c) => c.id === child.id) !== i)
        issues.push({ code: "DUPLICATE_STEP_ID", message: `step "${where.stepId}" field "${prefix}id": "${child.id}" is used twice`, stepId: where.stepId, field: `${prefix}id` });
      known.add(child.id);
      checkStep(child, known, issues, { stepId: where.stepId, prefix });
    }
  }
}

/** One line per issue, for CLI output and error messages. */
export function formatIssues(issues: ValidationIssue[]): string {
  return issues.map((i) => `- ${i.message}`).join("\n");
}
