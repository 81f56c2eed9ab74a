import type { Edge, Node } from "@xyflow/react";
import type { StepNodeData, WorkflowMeta } from "@/lib/workflow/canvas";
import type { ValidationIssue } from "@/lib/workflow/schema";

/**
 * Pure parts of the editor's undo history, unsaved-change tracking and kept field texts (no React, no DOM):
 * what one undoable state is, when two states count as the same, how a burst of changes becomes one history
 * entry, and the invalid texts typed into fields.
 */

type StepNode = Node<StepNodeData, "step">;

/** Text typed into a field that the definition cannot take yet (not JSON, not a number, a bad id), kept as typed. */
export interface InvalidField {
  text: string;
  /** What is wrong, for the field itself ("not valid JSON: …"). */
  error: string;
}

/** Per owner (a step id, or WORKFLOW_FIELDS for the workflow settings), per field path ("outputSchema", "config.body"). */
export type InvalidFields = Record<string, Record<string, InvalidField>>;

/** Owner key of the workflow settings' fields ("#" never occurs in a step id). */
export const WORKFLOW_FIELDS = "#workflow";

/** The issue code of a kept invalid text; such issues come from the browser, not the validator. */
export const INVALID_FIELD = "INVALID_FIELD_TEXT";

/** What undo/redo restores and what counts as an unsaved change: not selection, run state, issues or sizes. */
export interface EditorDocument {
  meta: WorkflowMeta;
  nodes: StepNode[];
  edges: Edge[];
  invalidFields: InvalidFields;
}

export const NO_INVALID_FIELDS: InvalidFields = Object.freeze({}) as InvalidFields;

export function documentOf(state: EditorDocument): EditorDocument {
  return { meta: state.meta, nodes: state.nodes, edges: state.edges, invalidFields: state.invalidFields };
}

const jsonEqual = (a: unknown, b: unknown) => a === b || JSON.stringify(a) === JSON.stringify(b);

function metaEqual(a: WorkflowMeta, b: WorkflowMeta): boolean {
  if (a === b) return true;
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]) as Set<keyof WorkflowMeta>;
  for (const key of keys) if (!jsonEqual(a[key], b[key])) return false;
  return true;
}

/**
 * Steps whose data differs by reference are compared by content, at most this many per check: a typed edit
 * touches one step, and beyond this the states differ anyway in all practical cases (keeps a check of a
 * 5,000-step canvas linear in references, never in content).
 */
const CONTENT_COMPARISONS = 32;

/** Same steps, positions and step data; React Flow's own fields (selected, measured, dragging) do not count. */
function nodesEqual(a: StepNode[], b: StepNode[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  let contentComparisons = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (x === y) continue;
    if (x.id !== y.id || x.position.x !== y.position.x || x.position.y !== y.position.y) return false;
    if (x.data === y.data) continue;
    if (++contentComparisons > CONTENT_COMPARISONS || !jsonEqual(x.data, y.data)) return false;
  }
  return true;
}

/** Edge ids say source, target and branch (`a->b:true`); selection does not count. */
function edgesEqual(a: Edge[], b: Edge[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i] && a[i].id !== b[i].id) return false;
  return true;
}

function invalidFieldsEqual(a: InvalidFields, b: InvalidFields): boolean {
  return a === b || jsonEqual(a, b);
}

/** Whether two states are the same workflow as far as saving and undo are concerned. */
export function sameDocument(a: EditorDocument, b: EditorDocument): boolean {
  return edgesEqual(a.edges, b.edges) && nodesEqual(a.nodes, b.nodes) && invalidFieldsEqual(a.invalidFields, b.invalidFields) && metaEqual(a.meta, b.meta);
}

/**
 * Reuses the previous step objects that a freshly loaded canvas holds unchanged (a restored draft, a
 * restored version), so later comparisons with them stay reference checks.
 */
export function reuseUnchangedNodes(previous: StepNode[], next: StepNode[]): StepNode[] {
  const byId = new Map(previous.map((n) => [n.id, n]));
  return next.map((n) => {
    const old = byId.get(n.id);
    return old && old.position.x === n.position.x && old.position.y === n.position.y && jsonEqual(old.data, n.data) ? old : n;
  });
}

export function reuseUnchangedMeta(previous: WorkflowMeta, next: WorkflowMeta): WorkflowMeta {
  return metaEqual(previous, next) ? previous : next;
}

/**
 * After undo/redo, the restored steps and edges keep what React Flow knows now (measured size, selection):
 * an old object would hide a step until it is measured again or bring back a stale selection.
 */
export function carryCanvasState<T extends StepNode | Edge>(restored: T[], current: T[]): T[] {
  const now = new Map(current.map((item) => [item.id, item]));
  let changed = false;
  const result = restored.map((item) => {
    const live = now.get(item.id) as (T & { measured?: unknown }) | undefined;
    const selected = live?.selected ?? false;
    const measured = live && "measured" in live ? live.measured : (item as { measured?: unknown }).measured;
    const old = item as T & { measured?: unknown; dragging?: boolean };
    if ((old.selected ?? false) === selected && old.measured === measured && !old.dragging) return item;
    changed = true;
    const copy = { ...item, selected } as T & { measured?: unknown; dragging?: boolean };
    if (measured !== undefined) copy.measured = measured;
    if ("dragging" in copy) copy.dragging = false;
    return copy as T;
  });
  return changed ? result : restored;
}

export function setInvalidField(fields: InvalidFields, owner: string, field: string, invalid: InvalidField | undefined): InvalidFields {
  const current = fields[owner]?.[field];
  if (!invalid) {
    if (!current) return fields;
    const { [field]: _removed, ...rest } = fields[owner];
    const { [owner]: _owner, ...others } = fields;
    return Object.keys(rest).length ? { ...others, [owner]: rest } : Object.keys(others).length ? others : NO_INVALID_FIELDS;
  }
  if (current && current.text === invalid.text && current.error === invalid.error) return fields;
  return { ...fields, [owner]: { ...fields[owner], [field]: invalid } };
}

/** A step renamed: its kept texts go with it (the id field's own text is settled by the rename). */
export function renameInvalidOwner(fields: InvalidFields, from: string, to: string): InvalidFields {
  const owned = fields[from];
  if (!owned) return fields;
  const { [from]: _old, ...others } = fields;
  const { id: _id, ...rest } = owned;
  return Object.keys(rest).length ? { ...others, [to]: rest } : Object.keys(others).length ? others : NO_INVALID_FIELDS;
}

export function dropInvalidOwners(fields: InvalidFields, owners: string[]): InvalidFields {
  if (!owners.some((owner) => fields[owner])) return fields;
  const rest = Object.fromEntries(Object.entries(fields).filter(([owner]) => !owners.includes(owner)));
  return Object.keys(rest).length ? rest : NO_INVALID_FIELDS;
}

export function hasInvalidFields(fields: InvalidFields): boolean {
  return Object.keys(fields).length > 0;
}

/** One issue per kept text, naming the step (or the workflow settings) and the field: what blocks Save and Run. */
export function invalidFieldIssues(fields: InvalidFields): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  for (const [owner, byField] of Object.entries(fields))
    for (const [field, invalid] of Object.entries(byField)) {
      const where = owner === WORKFLOW_FIELDS ? "Workflow settings" : `Step "${owner}"`;
      issues.push({ code: INVALID_FIELD, message: `${where}, field "${field}": ${invalid.error}`, ...(owner === WORKFLOW_FIELDS ? {} : { stepId: owner }), field });
    }
  return issues;
}

/** The issues to show: the kept texts' first (they are what the user typed last), then the validator's. */
export function withInvalidFieldIssues(issues: ValidationIssue[], fields: InvalidFields): ValidationIssue[] {
  return [...invalidFieldIssues(fields), ...issues.filter((i) => i.code !== INVALID_FIELD)];
}

/** Reads a JSON field's text: empty is "no value"; otherwise the value, or what is wrong. */
export function parseJsonText(text: string): { ok: true; value: unknown } | { ok: false; error: string } {
  if (!text.trim()) return { ok: true, value: undefined };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    return { ok: false, error: `not valid JSON: ${(err as Error).message}` };
  }
}

/**
 * Decides which store changes start a new undo entry. A change carries a group key: changes with the key of
 * the previous recorded change within `windowMs` of it (typing in one field) or with an open-ended key (one
 * drag, one deletion) join that entry, since the entry holds the state before the first of them.
 */
export class HistoryGrouping {
  private pending: { key: string; windowMs: number } | "skip" | undefined;
  private last: { key: string; at: number; windowMs: number } | undefined;
  constructor(private readonly now: () => number = () => Date.now()) {}

  /** Called right before the store changes; `"skip"` records nothing (a change that is not an edit). */
  next(group: { key: string; windowMs: number } | "skip" | undefined) {
    this.pending = group;
  }

  /** Whether the change that just happened gets an entry of its own (else it joins the previous one). */
  shouldRecord(): boolean {
    const group = this.pending;
    if (group === "skip") return false;
    const at = this.now();
    if (group && this.last && this.last.key === group.key && at - this.last.at <= group.windowMs) {
      this.last.at = at;
      return false;
    }
    this.last = group ? { ...group, at } : undefined;
    return true;
  }

  /** The next change starts a new entry (after undo/redo, a save, a drag's end). */
  break() {
    this.last = undefined;
  }
}

/** Typing pauses longer than this start a new undo entry. */
export const TYPING_WINDOW_MS = 1000;
