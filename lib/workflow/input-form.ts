/**
 * The run form's model: a workflow's input JSON Schema as form fields, and the edits of the input value they
 * make. Pure (no React), so the rules are tested on their own; components/canvas/InputForm.tsx draws it.
 */

type Schema = Record<string, unknown>;

interface FieldFacts {
  /** The schema's `title`, else nothing (the form then shows the property name). */
  title?: string;
  description?: string;
  default?: unknown;
}

export interface ObjectProperty {
  name: string;
  required: boolean;
  field: InputField;
}

export type InputField = FieldFacts &
  (
    | { kind: "string" }
    | { kind: "number"; integer: boolean }
    | { kind: "boolean" }
    | { kind: "enum"; choices: unknown[] }
    | { kind: "object"; properties: ObjectProperty[] }
    | { kind: "array"; item: InputField }
    /** A schema the form cannot show field by field (oneOf, $ref, a tuple, …): its value is edited as JSON. */
    | { kind: "json" }
  );

/** Schemas nested deeper than this are edited as JSON (a form that deep is no help). */
const MAX_FORM_DEPTH = 12;

const isSchema = (value: unknown): value is Schema => typeof value === "object" && value !== null && !Array.isArray(value);

/** The type a schema declares, ignoring "null" in a list of types (a nullable field is still that field). */
function declaredType(schema: Schema): string | undefined {
  const type = schema.type;
  if (typeof type === "string") return type;
  if (Array.isArray(type)) {
    const types = type.filter((t) => t !== "null");
    return types.length === 1 && typeof types[0] === "string" ? types[0] : undefined;
  }
  if (isSchema(schema.properties)) return "object";
  if (isSchema(schema.items)) return "array";
  return undefined;
}

/** The field for a JSON Schema (the whole input, a property, an array's items). */
export function inputField(schema: unknown, depth = 0): InputField {
  if (!isSchema(schema)) return { kind: "json" };
  const facts: FieldFacts = {
    ...(typeof schema.title === "string" ? { title: schema.title } : {}),
    ...(typeof schema.description === "string" ? { description: schema.description } : {}),
    ...(schema.default !== undefined ? { default: schema.default } : {}),
  };
  // Combinators and references change what the keywords beside them mean: JSON, not a guess.
  if (depth > MAX_FORM_DEPTH || ["oneOf", "anyOf", "allOf", "$ref", "not", "if"].some((k) => k in schema)) return { ...facts, kind: "json" };
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return { ...facts, kind: "enum", choices: schema.enum };
  switch (declaredType(schema)) {
    case "string":
      return { ...facts, kind: "string" };
    case "number":
    case "integer":
      return { ...facts, kind: "number", integer: declaredType(schema) === "integer" };
    case "boolean":
      return { ...facts, kind: "boolean" };
    case "object": {
      const required = new Set(Array.isArray(schema.required) ? schema.required.filter((r): r is string => typeof r === "string") : []);
      const properties = Object.entries(isSchema(schema.properties) ? schema.properties : {}).map(([name, property]) => ({
        name,
        required: required.has(name),
        field: inputField(property, depth + 1),
      }));
      return { ...facts, kind: "object", properties };
    }
    case "array":
      return isSchema(schema.items) ? { ...facts, kind: "array", item: inputField(schema.items, depth + 1) } : { ...facts, kind: "json" };
    default:
      return { ...facts, kind: "json" };
  }
}

/** Whether the schema has fields to draw a form from (an object without properties has none). */
export function hasInputFields(schema: unknown): boolean {
  if (!isSchema(schema)) return false;
  const field = inputField(schema);
  return field.kind === "object" ? field.properties.length > 0 : field.kind !== "json";
}

/**
 * How Run asks for the input: a form when there are fields to draw, JSON when the schema names properties the
 * form cannot draw (combinators around them), nothing (start at once with `{}`) otherwise.
 */
export function runInputMode(schema: unknown): "form" | "json" | undefined {
  if (hasInputFields(schema)) return "form";
  return isSchema(schema) && isSchema(schema.properties) && Object.keys(schema.properties).length > 0 ? "json" : undefined;
}

/** The input the form starts with: the schema's defaults, false for required checkboxes, [] for required lists. */
export function initialValue(field: InputField, required = true): unknown {
  if (field.default !== undefined) return structuredClone(field.default);
  switch (field.kind) {
    case "object": {
      const value: Record<string, unknown> = {};
      for (const p of field.properties) {
        // An optional object starts absent: an empty one would be checked against its own required fields.
        if (p.field.kind === "object" && !p.required) continue;
        const initial = initialValue(p.field, p.required);
        if (initial !== undefined) value[p.name] = initial;
      }
      return required || Object.keys(value).length ? value : undefined;
    }
    case "boolean":
      return required ? false : undefined;
    case "array":
      return required ? [] : undefined;
    default:
      return undefined;
  }
}

/** A new item of a list: its default, else an empty value of its kind (null for a number not typed yet). */
export function newItem(item: InputField): unknown {
  if (item.default !== undefined) return structuredClone(item.default);
  switch (item.kind) {
    case "string":
      return "";
    case "boolean":
      return false;
    case "enum":
      return item.choices[0];
    case "object":
      return initialValue(item, true);
    case "array":
      return [];
    default:
      return null;
  }
}

export type FieldPath = Array<string | number>;

/** A field's path as the form names it (test ids, error keys): keys and indexes joined by dots. */
export const pathKey = (path: FieldPath) => path.join(".");

export function valueAt(value: unknown, path: FieldPath): unknown {
  let current = value;
  for (const key of path) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<string | number, unknown>)[key];
  }
  return current;
}

/** The field at a path (list items share their list's item field). */
function fieldAt(root: InputField, path: FieldPath): { field: InputField; required: boolean } | undefined {
  let field = root;
  let required = true;
  for (const key of path) {
    if (field.kind === "object") {
      const property = field.properties.find((p) => p.name === key);
      if (!property) return undefined;
      field = property.field;
      required = property.required;
    } else if (field.kind === "array") {
      field = field.item;
      required = true;
    } else return undefined;
  }
  return { field, required };
}

/**
 * The input with the value at `path` replaced (undefined: the property removed; in a list, null, as JSON has no
 * holes). Objects and lists on the way are created.
 */
export function setValueAt(value: unknown, path: FieldPath, next: unknown): unknown {
  if (!path.length) return next;
  const [key, ...rest] = path;
  if (typeof key === "number") {
    const list = Array.isArray(value) ? [...value] : [];
    const child = setValueAt(list[key], rest, next);
    list[key] = child === undefined ? null : child;
    for (let i = 0; i < key; i++) list[i] ??= null;
    return list;
  }
  const object: Record<string, unknown> = isSchema(value) ? { ...value } : {};
  const child = setValueAt(object[key], rest, next);
  if (child === undefined) delete object[key];
  else object[key] = child;
  return object;
}

/**
 * An edit of the form: `setValueAt`, then the optional objects a removal left empty are removed too, innermost
 * first, so a cleared optional section is not checked against its own required fields.
 */
export function editInput(root: InputField, value: unknown, path: FieldPath, next: unknown): unknown {
  let result = setValueAt(value, path, next);
  if (next !== undefined) return result;
  for (let end = path.length - 1; end > 0; end--) {
    const parentPath = path.slice(0, end);
    const parent = valueAt(result, parentPath);
    const at = fieldAt(root, parentPath);
    if (!isSchema(parent) || Object.keys(parent).length > 0 || !at || at.required || typeof parentPath.at(-1) === "number") break;
    result = setValueAt(result, parentPath, undefined);
  }
  return result;
}

/** The paths (as `pathKey`) of the fields the form shows for a value: list items as many as the value has. */
export function formPaths(field: InputField, value: unknown, path: FieldPath = []): string[] {
  const own = pathKey(path);
  switch (field.kind) {
    case "object":
      return [own, ...field.properties.flatMap((p) => formPaths(p.field, valueAt(value, [p.name]), [...path, p.name]))];
    case "array":
      return [own, ...(Array.isArray(value) ? value.flatMap((item, i) => formPaths(field.item, item, [...path, i])) : [])];
    default:
      return [own];
  }
}

/**
 * Field errors after an edit at `path`: the ones of that field, of the fields inside it, and of the objects and
 * lists around it are stale (an edit of an item answers its list's "must have 2 items"); the others stay.
 */
export function withoutStaleErrors(errors: Record<string, string>, path: FieldPath): Record<string, string> {
  const edited = pathKey(path);
  const related = (key: string) => key === edited || key === "" || key.startsWith(`${edited}.`) || edited.startsWith(`${key}.`) || edited === "";
  return Object.fromEntries(Object.entries(errors).filter(([key]) => !related(key)));
}

/** An enum choice as a person reads it: text as is, anything else as JSON. */
export const formatChoice = (choice: unknown) => (typeof choice === "string" ? choice : JSON.stringify(choice));
