"use client";

import { createContext, useContext, useState, type ReactNode } from "react";
import { addEdge, applyEdgeChanges, applyNodeChanges, type Connection, type Edge, type EdgeChange, type Node, type NodeChange } from "@xyflow/react";
import { createStore, useStore, type StoreApi } from "zustand";
import { temporal, type TemporalState } from "zundo";
import type { RunEvent, TokenEvent } from "@/lib/runner/event-types";
import { applyLiveUpdates, type LiveRun, type LiveUpdate } from "@/lib/runner/live-run";
import { canvasToDefinition, definitionToCanvas, edgeId, nextStepId, type StepNodeData, type WorkflowMeta } from "@/lib/workflow/canvas";
import type { ValidationIssue, WorkflowDefinition } from "@/lib/workflow/schema";
import { stepNodeSize } from "./node-geometry";
import { getStepKind, stepKinds } from "@/lib/workflow/step-kinds";
import {
  carryCanvasState,
  documentOf,
  dropInvalidOwners,
  HistoryGrouping,
  NO_INVALID_FIELDS,
  renameInvalidOwner,
  reuseUnchangedMeta,
  reuseUnchangedNodes,
  sameDocument,
  setInvalidField,
  TYPING_WINDOW_MS,
  withInvalidFieldIssues,
  WORKFLOW_FIELDS,
  type EditorDocument,
  type InvalidField,
  type InvalidFields,
} from "./editor-history";

/**
 * One store per editor (never a module-level store: the zustand Next.js guide), created by the provider and
 * read through `useEditor`, which throws outside it.
 */

export type StepNode = Node<StepNodeData, "step">;

export type { LiveRun, LiveStep } from "@/lib/runner/live-run";

export interface EditorState {
  meta: WorkflowMeta;
  nodes: StepNode[];
  edges: Edge[];
  selectedId: string | null;
  dirty: boolean;
  isNew: boolean;
  savedVersion: number | null;
  issues: ValidationIssue[];
  run: LiveRun | null;
  readOnly: boolean;
  /** Texts typed into fields that the definition cannot take yet, kept as typed (they block Save and Run). */
  invalidFields: InvalidFields;
  /** The state last saved (or loaded from the server): `dirty` is whether the current one differs from it. */
  saved: EditorDocument;

  onNodesChange(changes: NodeChange<StepNode>[]): void;
  onEdgesChange(changes: EdgeChange[]): void;
  onConnect(connection: Connection): void;
  addStep(kind: string, position: { x: number; y: number }): string;
  /** `field` names the field being typed in: successive changes of it within a second are one undo entry. */
  updateStep(id: string, patch: Partial<StepNodeData>, field?: string): void;
  renameStep(id: string, newId: string): void;
  setMeta(patch: Partial<WorkflowMeta>, field?: string): void;
  /** Keeps (or, with undefined, clears) the text of a field that does not parse; owner: a step id or WORKFLOW_FIELDS. */
  setInvalidField(owner: string, field: string, invalid: InvalidField | undefined): void;
  select(id: string | null): void;
  definition(): WorkflowDefinition;
  setIssues(issues: ValidationIssue[]): void;
  /** `basis`: the state that was sent to be saved (changes made while saving stay unsaved). */
  markSaved(version: number, basis?: EditorDocument): void;
  /**
   * Replaces the whole workflow (one undo entry): with a version, a saved version (a rollback), which is then
   * the saved state; without, e.g. an import, an unsaved change.
   */
  loadDefinition(definition: WorkflowDefinition, version?: number): void;
  /** Puts back an unsaved draft (one undo entry; unsaved). */
  restoreDraft(definition: WorkflowDefinition, invalidFields: InvalidFields): void;
  /** Goes back to the saved state (one undo entry). */
  discardChanges(): void;
  /** Replaces the canvas with an imported definition as unsaved changes (one undo entry); the workflow keeps its id. */
  importDefinition(definition: WorkflowDefinition, issues: ValidationIssue[]): void;
  undo(): void;
  redo(): void;
  /**
   * Follows a run from its start (a run started here, or noticed starting elsewhere); the same run again is a
   * no-op, unless `again`: the run had ended and was resumed, so it is followed again from where it was.
   */
  startRun(runId: string, options?: { again?: boolean }): void;
  /** Takes a stored snapshot of the run when it is newer than what the live events built (a reload). */
  syncRun(stored: LiveRun): void;
  applyRunEvent(event: RunEvent): void;
  appendToken(event: TokenEvent): void;
  /** Run events and streamed tokens in the order received, applied in one store update (see `applyLiveUpdates`). */
  applyRunUpdates(updates: readonly LiveUpdate[]): void;
}

export interface EditorInit {
  definition: WorkflowDefinition;
  savedVersion: number | null;
  isNew?: boolean;
  readOnly?: boolean;
  run?: LiveRun | null;
}

/** The canvas of a definition; nodes come with the size StepNode will have (see node-geometry.ts). */
function toNodes(def: WorkflowDefinition) {
  const canvas = definitionToCanvas(def);
  return { nodes: canvas.nodes.map((node) => ({ ...node, measured: stepNodeSize(node.data) })), edges: canvas.edges };
}

const whenOf = (handle: string | null | undefined) => (handle === "true" || handle === "false" || handle === "error" ? handle : undefined);

function edgeFromConnection(connection: Connection): Edge {
  const when = whenOf(connection.sourceHandle);
  return {
    id: edgeId({ from: connection.source, to: connection.target, when }),
    source: connection.source,
    target: connection.target,
    sourceHandle: connection.sourceHandle ?? null,
    ...(when ? { label: when } : {}),
  };
}

/** The undo history of an editor's store (zundo): past and future states of its document. */
export type EditorHistory = StoreApi<TemporalState<EditorDocument>>;
export type EditorStore = StoreApi<EditorState> & { temporal: EditorHistory };

/** Undo keeps this many entries. */
export const HISTORY_LIMIT = 200;

type Group = Parameters<HistoryGrouping["next"]>[0];
const typing = (owner: string, field: string): Group => ({ key: `field:${owner}:${field}`, windowMs: TYPING_WINDOW_MS });

function canvasOf(definition: WorkflowDefinition) {
  const { steps: _steps, edges: _edges, ...meta } = definition;
  const canvas = toNodes(definition);
  return { meta: meta as WorkflowMeta, nodes: canvas.nodes as StepNode[], edges: canvas.edges as Edge[] };
}

export function createEditorStore(init: EditorInit): EditorStore {
  const initial = { ...canvasOf(init.definition), invalidFields: NO_INVALID_FIELDS };
  const grouping = new HistoryGrouping();
  // Changes React Flow reports in one go (a deletion: the edges, then the steps) are one undo entry.
  let tick = 0;
  let tickPending = false;
  const sameTask = (): Group => {
    if (!tickPending) {
      tickPending = true;
      queueMicrotask(() => {
        tick++;
        tickPending = false;
      });
    }
    return { key: `task:${tick}`, windowMs: Infinity };
  };
  let drag = 0;
  // A step renamed letter by letter is one entry: each new id remembers the id the renaming started from.
  const renamedFrom = new Map<string, string>();

  const store = createStore<EditorState>()(
    temporal(
      (set, get) => {
        /**
         * Applies an edit: records it under `group`, keeps the kept-text issues and `dirty` up to date. A read-only
         * store (view access, the run page) takes only what is no edit ("skip": selection, measured sizes).
         */
        const edit = (group: Group, recipe: (s: EditorState) => Partial<EditorState> | null) => {
          if (get().readOnly && group !== "skip") return;
          grouping.next(group);
          try {
            set((s) => {
              const patch = recipe(s);
              if (!patch) return s;
              const next = { ...s, ...patch };
              return {
                ...patch,
                ...(patch.invalidFields && patch.invalidFields !== s.invalidFields ? { issues: withInvalidFieldIssues(next.issues, next.invalidFields) } : {}),
                dirty: !sameDocument(documentOf(next), next.saved),
              };
            });
          } finally {
            grouping.next(undefined);
          }
        };
        /** After undo/redo: React Flow's view of the canvas stays, the selection follows the steps. */
        const settle = (before: EditorState) => {
          grouping.next("skip");
          try {
            set((s) => {
              const nodes = carryCanvasState(s.nodes, before.nodes);
              const edges = carryCanvasState(s.edges, before.edges);
              const selectedId = s.selectedId && nodes.some((n) => n.id === s.selectedId) ? s.selectedId : null;
              return { nodes, edges, selectedId, issues: withInvalidFieldIssues(s.issues, s.invalidFields), dirty: !sameDocument(documentOf(s), s.saved) };
            });
          } finally {
            grouping.next(undefined);
          }
        };
        const travel = (direction: "undo" | "redo") => {
          const history = (store as EditorStore).temporal.getState();
          if (!(direction === "undo" ? history.pastStates : history.futureStates).length) return;
          const before = get();
          grouping.break();
          history[direction]();
          settle(before);
        };
        const replace = (document: EditorDocument, saved: EditorDocument | null, extra: Partial<EditorState> = {}) =>
          edit(undefined, (s) => ({
            meta: reuseUnchangedMeta(s.meta, document.meta),
            nodes: reuseUnchangedNodes(s.nodes, document.nodes),
            edges: document.edges,
            invalidFields: document.invalidFields,
            selectedId: null,
            issues: [],
            ...(saved ? { saved } : {}),
            ...extra,
          }));

        return {
    ...initial,
    saved: initial,
    selectedId: null,
    dirty: false,
    isNew: init.isNew ?? false,
    savedVersion: init.savedVersion,
    issues: [],
    run: init.run ?? null,
    readOnly: init.readOnly ?? false,
    invalidFields: initial.invalidFields,

    onNodesChange: (changes) => {
      const removed = changes.filter((c) => c.type === "remove").map((c) => c.id);
      const moves = changes.filter((c) => c.type === "position");
      const dragging = moves.some((c) => c.type === "position" && c.dragging !== undefined);
      const dragEnds = dragging && moves.every((c) => c.type === "position" && c.dragging === false);
      // A drag is one entry (the state before it), a deletion too; selection and measuring are no edits.
      const group: Group = removed.length
        ? sameTask()
        : dragging
          ? { key: `drag:${drag}`, windowMs: Infinity }
          : moves.length
            ? { key: `nudge:${moves.map((c) => c.id).join(",")}`, windowMs: TYPING_WINDOW_MS }
            : changes.every((c) => c.type === "select" || c.type === "dimensions")
              ? "skip"
              : undefined;
      edit(group, (s) => ({
        nodes: applyNodeChanges(changes, s.nodes),
        ...(removed.length
          ? { selectedId: s.selectedId && removed.includes(s.selectedId) ? null : s.selectedId, invalidFields: dropInvalidOwners(s.invalidFields, removed) }
          : {}),
      }));
      if (dragEnds) {
        drag++;
        grouping.break();
      }
    },
    onEdgesChange: (changes) => {
      const group: Group = changes.some((c) => c.type === "remove") ? sameTask() : changes.every((c) => c.type === "select") ? "skip" : undefined;
      edit(group, (s) => ({ edges: applyEdgeChanges(changes, s.edges) }));
    },
    onConnect: (connection) => {
      if (!connection.source || !connection.target) return;
      edit(undefined, (s) => ({ edges: addEdge(edgeFromConnection(connection), s.edges) }));
    },
    addStep: (kind, position) => {
      const spec = getStepKind(kind) ?? stepKinds.transform;
      const id = nextStepId(kind, get().nodes.map((n) => n.id));
      const node: StepNode = { id, type: "step", position, data: { type: spec.kind, config: structuredClone(spec.defaultConfig) } };
      edit(undefined, (s) => ({ nodes: [...s.nodes, node], selectedId: id }));
      return id;
    },
    updateStep: (id, patch, field) =>
      edit(field ? typing(id, field) : undefined, (s) => ({ nodes: s.nodes.map((n) => (n.id === id ? { ...n, data: { ...n.data, ...patch } } : n)) })),
    renameStep: (id, newId) => {
      if (id === newId || get().nodes.some((n) => n.id === newId)) return;
      const from = renamedFrom.get(id) ?? id;
      renamedFrom.set(newId, from);
      edit(typing(from, "id"), (s) => ({
        nodes: s.nodes.map((n) => (n.id === id ? { ...n, id: newId } : n)),
        edges: s.edges.map((e) => {
          const source = e.source === id ? newId : e.source;
          const target = e.target === id ? newId : e.target;
          return { ...e, source, target, id: edgeId({ from: source, to: target, when: whenOf(e.sourceHandle) }) };
        }),
        selectedId: s.selectedId === id ? newId : s.selectedId,
        issues: s.issues.filter((i) => i.stepId !== id),
        invalidFields: renameInvalidOwner(s.invalidFields, id, newId),
      }));
    },
    setMeta: (patch, field) => edit(field ? typing(WORKFLOW_FIELDS, field) : undefined, (s) => ({ meta: { ...s.meta, ...patch } })),
    setInvalidField: (owner, field, invalid) =>
      edit(typing(owner, field), (s) => {
        const invalidFields = setInvalidField(s.invalidFields, owner, field, invalid);
        return invalidFields === s.invalidFields ? null : { invalidFields };
      }),
    select: (id) => set({ selectedId: id }),
    definition: () => {
      const s = get();
      return canvasToDefinition(s.meta, s.nodes, s.edges);
    },
    setIssues: (issues) => set((s) => ({ issues: withInvalidFieldIssues(issues, s.invalidFields) })),
    markSaved: (version, basis) => {
      grouping.break();
      set((s) => {
        const saved = basis ?? documentOf(s);
        return { savedVersion: version, saved, dirty: !sameDocument(documentOf(s), saved), issues: withInvalidFieldIssues([], s.invalidFields), isNew: false };
      });
    },
    loadDefinition: (definition, version) => {
      const document = { ...canvasOf(definition), invalidFields: NO_INVALID_FIELDS };
      if (version === undefined) return replace(document, null);
      // The saved state shares the objects the canvas gets, so comparing the two stays cheap.
      replace(document, null, { savedVersion: version, isNew: false });
      set((s) => ({ saved: documentOf(s), dirty: false }));
    },
    restoreDraft: (definition, invalidFields) => replace({ ...canvasOf(definition), invalidFields }, null),
    discardChanges: () => replace(get().saved, null),
    importDefinition: (definition, issues) => {
      const imported = canvasOf(definition);
      replace({ ...imported, meta: { ...imported.meta, id: get().meta.id }, invalidFields: NO_INVALID_FIELDS }, null, { issues });
    },
    undo: () => travel("undo"),
    redo: () => travel("redo"),
    startRun: (runId, options) =>
      set((s) =>
        s.run?.runId !== runId ? { run: { runId, status: "queued", lastSeq: 0, steps: {} } } : options?.again ? { run: { ...s.run, status: "queued", error: undefined } } : s,
      ),
    syncRun: (stored) =>
      set((s) => {
        if (s.run?.runId !== stored.runId) return { run: stored };
        if (s.run.lastSeq >= stored.lastSeq) return s;
        // Streamed text is not stored: keep what was received for the executions still shown.
        const steps = { ...stored.steps };
        for (const [id, step] of Object.entries(steps)) {
          const held = s.run.steps[id];
          if (held?.tokens && held.execution === step.execution && !step.tokens) steps[id] = { ...step, tokens: held.tokens, tokensFrom: held.tokensFrom };
        }
        return { run: { ...stored, steps } };
      }),
    applyRunEvent: (event) => get().applyRunUpdates([{ event }]),
    appendToken: (token) => get().applyRunUpdates([{ token }]),
    // The same state back when nothing changes: zustand then notifies no one (every node's selectors).
    applyRunUpdates: (updates) =>
      set((s) => {
        const run = s.run && applyLiveUpdates(s.run, updates);
        return run === s.run ? s : { run };
      }),
        };
      },
      {
        partialize: (s): EditorDocument => documentOf(s),
        equality: sameDocument,
        limit: HISTORY_LIMIT,
        // Only edits get an entry; the ones of one burst (typing, a drag) join the first one's entry.
        // (zundo hands over its internal recorder, which takes the past and current states, typed as a setState.)
        handleSet: (handleSet) => (pastState, replace, currentState, deltaState) => {
          if (grouping.shouldRecord()) (handleSet as unknown as (...args: unknown[]) => void)(pastState, replace, currentState, deltaState);
        },
      },
    ),
  ) as EditorStore;
  return store;
}

const EditorContext = createContext<EditorStore | null>(null);

export function EditorStoreProvider({ init, children }: { init: EditorInit; children: ReactNode }) {
  const [store] = useState(() => createEditorStore(init));
  return <EditorContext.Provider value={store}>{children}</EditorContext.Provider>;
}

export function useEditor<T>(selector: (state: EditorState) => T): T {
  const store = useContext(EditorContext);
  if (!store) throw new Error("useEditor must be used inside <EditorStoreProvider>");
  return useStore(store, selector);
}

export function useEditorApi(): EditorStore {
  const store = useContext(EditorContext);
  if (!store) throw new Error("useEditorApi must be used inside <EditorStoreProvider>");
  return store;
}

/** Reads the undo history (e.g. whether there is anything to undo). */
export function useEditorHistory<T>(selector: (history: TemporalState<EditorDocument>) => T): T {
  return useStore(useEditorApi().temporal, selector);
}
