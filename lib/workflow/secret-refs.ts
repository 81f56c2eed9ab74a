import { parseExpressions, stepExpressions } from "./expression";
import type { WorkflowDefinition, WorkflowStep } from "./schema";
import { getStepKind } from "./step-kinds";

/**
 * Where workflows may name a user's secrets (`{{ secrets.NAME }}`), as pure facts shared by the validator, the
 * engine (which secrets a step gets) and the Settings page (which names are valid).
 */

export { SECRET_NAME_PATTERN, SECRET_NAME_RULE } from "./secret-names";

/**
 * The step kinds whose config templates may name secrets: what they render goes out (a request, a prompt, the
 * agent) and is redacted where it is stored. Not the others: a sub-workflow's input is stored as its run's input,
 * an approval's or a callback's message is stored in the run's state before anything can redact it, a condition
 * or a map's items are bare expressions whose results steer the run.
 */
export const SECRET_STEP_KINDS = ["http", "llm", "transform", "kilo"];

/**
 * The secret names a step reads through its config templates (with a map's item steps), in the order first read.
 * Only the names validation accepts are found here (templates in config of the kinds above); anything else is
 * refused before a run starts.
 */
export function secretsReadBy(step: WorkflowStep): string[] {
  // Most steps name no secret: one pass over their strings tells, without building field paths or parsing.
  if (!mentionsSecrets(step.config)) return [];
  const names = new Set<string>();
  const pending: WorkflowStep[] = [step];
  while (pending.length) {
    const current = pending.pop()!;
    const kind = getStepKind(current.type);
    if (!kind) continue;
    if (current.type === "map" && Array.isArray(current.config?.steps)) pending.push(...(current.config.steps as WorkflowStep[]));
    if (!SECRET_STEP_KINDS.includes(current.type)) continue;
    // Only expressions that mention secrets at all are parsed (cached by text; most were parsed by validation).
    const found = stepExpressions(current, kind).filter((e) => e.template && e.field.startsWith("config.") && e.expression.includes("secrets"));
    if (!found.length) continue;
    const parsed = parseExpressions(found.map((e) => e.expression));
    for (const { expression } of found) {
      const reads = parsed.get(expression);
      if (reads && !(reads instanceof Error)) for (const name of reads.secrets ?? []) names.add(name);
    }
  }
  return [...names];
}

/** Every secret name a definition reads (what a run of it resolves for its owner). */
export function secretsReferencedBy(definition: Pick<WorkflowDefinition, "steps">): string[] {
  const names = new Set<string>();
  for (const step of definition.steps) for (const name of secretsReadBy(step)) names.add(name);
  return [...names];
}

/** Whether any string in a JSON value contains the word `secrets` (iterative: configs may be deep). */
function mentionsSecrets(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length) {
    const item = stack.pop();
    if (typeof item === "string") {
      if (item.includes("secrets")) return true;
    } else if (Array.isArray(item)) {
      for (const child of item) stack.push(child);
    } else if (item !== null && typeof item === "object") {
      for (const child of Object.values(item)) stack.push(child);
    }
  }
  return false;
}
