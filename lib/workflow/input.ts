import Ajv from "ajv";
import type { ValidationIssue, WorkflowDefinition } from "./schema";

const ajv = new Ajv({ allErrors: true, strict: false, useDefaults: true, coerceTypes: false });
const strictAjv = new Ajv({ allErrors: true, strict: false });
const compiledSchemas = new WeakMap<object, ReturnType<typeof strictAjv.compile>>();

/** Problems of a value against a JSON Schema, as `<root>.path: message` (empty when it matches). */
export function schemaProblems(schema: Record<string, unknown>, value: unknown, root: string): string[] {
  let check = compiledSchemas.get(schema);
  if (!check) compiledSchemas.set(schema, (check = strictAjv.compile(schema)));
  if (check(value)) return [];
  return (check.errors ?? []).map((e) => {
    const missing = e.keyword === "required" ? `/${(e.params as { missingProperty: string }).missingProperty}` : "";
    const where = `${root}${`${e.instancePath}${missing}`.replace(/\//g, ".")}`;
    return `${where}: ${e.keyword === "required" ? "is required" : e.message}`;
  });
}

/** Problems of a step output against its `outputSchema`. */
export const outputSchemaProblems = (schema: Record<string, unknown>, output: unknown) => schemaProblems(schema, output, "output");

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
