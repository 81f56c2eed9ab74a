import Ajv from "ajv";
import type { ValidationIssue, WorkflowDefinition } from "./schema";

const ajv = new Ajv({ allErrors: true, strict: false, useDefaults: true, coerceTypes: false });
const strictAjv = new Ajv({ allErrors: true, strict: false });
const compiledOutputSchemas = new WeakMap<object, ReturnType<typeof strictAjv.compile>>();

/** Problems of a step output against its `outputSchema`, as `path: message` (empty when it matches). */
export function outputSchemaProblems(schema: Record<string, unknown>, output: unknown): string[] {
  let check = compiledOutputSchemas.get(schema);
  if (!check) compiledOutputSchemas.set(schema, (check = strictAjv.compile(schema)));
  if (check(output)) return [];
  return (check.errors ?? []).map((e) => {
    const missing = e.keyword === "required" ? `/${(e.params as { missingProperty: string }).missingProperty}` : "";
    const where = `output${`${e.instancePath}${missing}`.replace(/\//g, ".")}`;
    return `${where}: ${e.keyword === "required" ? "is required" : e.message}`;
  });
}

/**
 * Checks a run's input against the workflow's `input` JSON Schema (defaults are filled in). Each issue names
 * the input field, e.g. `input.topic: must be string`.
 */
export function validateRunInput(def: WorkflowDefinition, input: unknown): { input: unknown; issues: ValidationIssue[] } {
  const value = input === undefined ? {} : structuredClone(input);
  if (!def.input) return { input: value, issues: [] };
  const check = ajv.compile(def.input);
  if (check(value)) return { input: value, issues: [] };
  const issues = (check.errors ?? []).map((e) => {
    const missing = e.keyword === "required" ? `.${(e.params as { missingProperty: string }).missingProperty}` : "";
    const field = `input${e.instancePath.replace(/\//g, ".")}${missing}`;
    const message = e.keyword === "required" ? "is required" : (e.message ?? "is invalid");
    return { code: "INVALID_INPUT", field, message: `${field}: ${message}` };
  });
  return { input: value, issues };
}
