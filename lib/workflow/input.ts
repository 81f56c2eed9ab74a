import Ajv, { type ErrorObject, type ValidateFunction } from "ajv";
import { formatChoice } from "./input-form";
import { outsideValueIssue } from "./limits";
import type { ValidationIssue, WorkflowDefinition } from "./schema";

// addUsedSchema: false — a schema's `$id` is not registered, so the same `$id` in another definition (or the
// next run of this one) does not clash with "schema already exists". Created on first use: a new Ajv compiles
// its meta-schemas (~25 ms each in a browser), which every page importing this module (the editor) paid on load.
let plainAjv: Ajv | undefined;
let defaultsAjv: Ajv | undefined;
const ajvFor = (fillDefaults: boolean): Ajv =>
  fillDefaults
    ? (defaultsAjv ??= new Ajv({ allErrors: true, strict: false, useDefaults: true, coerceTypes: false, addUsedSchema: false }))
    : (plainAjv ??= new Ajv({ allErrors: true, strict: false, addUsedSchema: false }));

const MAX_CACHED = 500;
const compiled = new Map<string, ValidateFunction>();

/**
 * A JSON Schema compiled once per distinct content. Definitions are parsed afresh for every run, so Ajv's own
 * cache (keyed by object identity) would keep every copy forever: each compiled schema is removed from it and
 * kept here instead, by content, in a bounded least-recently-used map. Throws when the schema is invalid.
 */
export function compileJsonSchema(schema: Record<string, unknown>, options: { fillDefaults?: boolean } = {}): ValidateFunction {
  const key = `${options.fillDefaults ? "defaults" : "plain"}:${JSON.stringify(schema)}`;
  const hit = compiled.get(key);
  if (hit) {
    compiled.delete(key);
    compiled.set(key, hit);
    return hit;
  }
  const ajv = ajvFor(options.fillDefaults ?? false);
  let check: ValidateFunction;
  try {
    check = ajv.compile(schema);
  } finally {
    ajv.removeSchema(schema);
  }
  compiled.set(key, check);
  if (compiled.size > MAX_CACHED) compiled.delete(compiled.keys().next().value!);
  return check;
}

/** What is wrong, in words: the missing property for `required`, the choices for `enum`. */
function problemOf(e: ErrorObject): string {
  if (e.keyword === "required") return "is required";
  if (e.keyword === "enum") return `must be one of: ${(e.params as { allowedValues: unknown[] }).allowedValues.map(formatChoice).join(", ")}`;
  return e.message ?? "is invalid";
}

export { formatChoice };

/** Where an error is: the instance path's segments (JSON Pointer decoded), plus the missing property for `required`. */
function pathOf(e: ErrorObject): string[] {
  const segments = e.instancePath ? e.instancePath.slice(1).split("/").map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~")) : [];
  return e.keyword === "required" ? [...segments, (e.params as { missingProperty: string }).missingProperty] : segments;
}

/** Ajv errors as `<root>.path: message`, with the missing property named for `required`. */
function describe(errors: ErrorObject[] | null | undefined, root: string): Array<{ field: string; message: string }> {
  return (errors ?? []).map((e) => {
    const missing = e.keyword === "required" ? `/${(e.params as { missingProperty: string }).missingProperty}` : "";
    const field = `${root}${`${e.instancePath}${missing}`.replace(/\//g, ".")}`;
    return { field, message: `${field}: ${problemOf(e)}` };
  });
}

/** Problems of a value against a JSON Schema, as `<root>.path: message` (empty when it matches). */
export function schemaProblems(schema: Record<string, unknown>, value: unknown, root: string): string[] {
  const check = compileJsonSchema(schema);
  return check(value) ? [] : describe(check.errors, root).map((p) => p.message);
}

/** Problems of a step output against its `outputSchema`. */
export const outputSchemaProblems = (schema: Record<string, unknown>, output: unknown) => schemaProblems(schema, output, "output");

/**
 * Checks a run's input against the workflow's `input` JSON Schema (defaults are filled in). Each issue names
 * the input field, e.g. `input.topic: must be string`.
 */
export function validateRunInput(def: WorkflowDefinition, input: unknown): { input: unknown; issues: ValidationIssue[] } {
  // Before anything walks it (structuredClone, Ajv, JSON.stringify of the run row each recurse per level; the
  // row would not hold a BigInt, NaN or a function as checked).
  const outside = outsideValueIssue(input, "input");
  if (outside) return { input, issues: [outside] };
  const value = input === undefined ? {} : structuredClone(input);
  if (!def.input) return { input: value, issues: [] };
  const check = compileJsonSchema(def.input, { fillDefaults: true });
  if (check(value)) return { input: value, issues: [] };
  return { input: value, issues: describe(check.errors, "input").map((p) => ({ code: "INVALID_INPUT", ...p })) };
}

/** Keywords under which an object may hold fields its `properties` do not list (or that we do not follow). */
const OPEN_KEYWORDS = ["$ref", "$dynamicRef", "patternProperties", "anyOf", "oneOf", "allOf", "if", "dependentSchemas", "dependencies", "unevaluatedProperties", "prefixItems"];

const isSchemaObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === "object" && !Array.isArray(value);

/**
 * Where a path of field names read from the run input (`input.address.zip` → ["address", "zip"]) leaves what the
 * input schema declares: the position of the first name it does not declare and the names declared there, or
 * undefined when every name is declared or the schema cannot tell (additionalProperties, patternProperties,
 * combinators, $ref). At the top level every field must be declared — the schema is the run input's contract;
 * below it, only objects that list their `properties` without `additionalProperties` are checked. Lists are
 * looked through (`input.items.name` reads `name` of each item, as JSONata maps over them).
 */
export function undeclaredInputField(schema: unknown, path: readonly string[]): { at: number; declared: string[] } | undefined {
  let node = schema;
  for (let at = 0; at < path.length; at++) {
    for (let hops = 0; isSchemaObject(node) && !isSchemaObject(node.properties) && isSchemaObject(node.items) && hops < 32; hops++) node = node.items;
    if (!isSchemaObject(node) || OPEN_KEYWORDS.some((k) => Object.hasOwn(node as object, k))) return undefined;
    const properties = isSchemaObject(node.properties) ? node.properties : undefined;
    if (properties && Object.hasOwn(properties, path[at])) {
      node = properties[path[at]];
      continue;
    }
    if (node.additionalProperties !== undefined && node.additionalProperties !== false) return undefined;
    const aboutObjects = properties !== undefined || node.type === "object" || (Array.isArray(node.type) && node.type.includes("object"));
    if (at === 0 ? aboutObjects : properties !== undefined) return { at, declared: Object.keys(properties ?? {}) };
    return undefined;
  }
  return undefined;
}

/**
 * The problems of a run input against an input schema, for a form that shows each next to its field: the
 * field's path (keys and item indexes; empty for the input as a whole) and what is wrong. The same check as
 * `validateRunInput` (defaults filled first), so the form refuses what the server would.
 */
export function runInputProblems(schema: Record<string, unknown>, input: unknown): Array<{ path: string[]; message: string }> {
  const outside = outsideValueIssue(input, "input");
  if (outside) return [{ path: [], message: outside.message }];
  const check = compileJsonSchema(schema, { fillDefaults: true });
  const value = input === undefined ? {} : structuredClone(input);
  return check(value) ? [] : (check.errors ?? []).map((e) => ({ path: pathOf(e), message: problemOf(e) }));
}
