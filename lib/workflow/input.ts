import Ajv from "ajv";
import type { ValidationIssue, WorkflowDefinition } from "./schema";

const ajv = new Ajv({ allErrors: true, strict: false, useDefaults: true, coerceTypes: false });

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
