"use client";

import { createContext, useContext, useState, type ReactNode } from "react";
import { addEdge, applyEdgeChanges, applyNodeChanges, type Connection, type Edge, type EdgeChange, type Node, type NodeChange } from "@xyflow/react";
import { createStore, useStore, type StoreApi } from "zustand";
import type { SerializedError } from "@/lib/engine/errors";
import type { RunEvent, RunStatus, StepStatus, TokenEvent } from "@/lib/runner/event-types";
import { canvasToDefinition, definitionToCanvas, edgeId, nextStepId, type StepNodeData, type WorkflowMeta } from "@/lib/workflow/canvas";
import type { ValidationIssue, WorkflowDefinition } from "@/lib/workflow/schema";
import { stepNodeSize } from "./node-geometry";
import { getStepKind, stepKinds } from "@/lib/workflow/step-kinds";

/**
 * One store per editor (never a module-level store: the zustand Next.js guide), created by the provider and
 * read through `useEditor`, which throws outside it.
 */

export type StepNode = Node<StepNodeData, "step">;

export interface LiveStep {
  status: StepStatus;
  execution: number;
  tokens: string;
  output?: unknown;
  error?: SerializedError;
  /** Current attempt under a retry policy (set once a retry happened), and why the last attempt failed. */
  attempt?: number;
  retryError?: SerializedError;
  /** Log lines of the current execution (console output of a code step). */
  logs?: Array<{ level: string; text: string }>;
}

export interface LiveRun {
  runId: string;
  status: RunStatus;
  lastSeq: number;
  error?: SerializedError;
  steps: Record<string, LiveStep>;
}

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

  onNodesChange(changes: NodeChange<StepNode>[]): void;
  onEdgesChange(changes: EdgeChange[]): void;
  onConnect(connection: Connection): void;
  addStep(kind: string, position: { x: number; y: number }): string;
  updateStep(id: string, patch: Partial<StepNodeData>): void;
  renameStep(id: string, newId: string): void;
  setMeta(patch: Partial<WorkflowMeta>): void;
  select(id: string | null): void;
  definition(): WorkflowDefinition;
  setIssues(issues: ValidationIssue[]): void;
  markSaved(version: number): void;
  /** Replaces the whole workflow with a saved version (a rollback), which is then the saved state. */
  loadDefinition(definition: WorkflowDefinition, version: number): void;
  /** Replaces the canvas with an imported definition as unsaved changes; the workflow keeps its id. */
  importDefinition(definition: WorkflowDefinition, issues: ValidationIssue[]): void;
  startRun(runId: string): void;
  /** Takes a stored snapshot of the run when it is newer than what the live events built (a reload). */
  syncRun(stored: LiveRun): void;
  applyRunEvent(event: RunEvent): void;
  appendToken(event: TokenEvent): void;
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

export function createEditorStore(init: EditorInit): StoreApi<EditorState> {
  const { steps: _steps, edges: _edges, ...meta } = init.definition;
  const canvas = toNodes(init.definition);
  return createStore<EditorState>()((set, get) => ({
    meta,
    nodes: canvas.nodes as StepNode[],
    edges: canvas.edges as Edge[],
    selectedId: null,
    dirty: false,
    isNew: init.isNew ?? false,
    savedVersion: init.savedVersion,
    issues: [],
    run: init.run ?? null,
    readOnly: init.readOnly ?? false,

    onNodesChange: (changes) => {
      const meaningful = changes.some((c) => c.type !== "select" && c.type !== "dimensions");
      const removed = changes.filter((c) => c.type === "remove").map((c) => c.id);
      set((s) => ({
        nodes: applyNodeChanges(changes, s.nodes),
        dirty: s.dirty || meaningful,
        selectedId: s.selectedId && removed.includes(s.selectedId) ? null : s.selectedId,
      }));
    },
    onEdgesChange: (changes) =>
      set((s) => ({ edges: applyEdgeChanges(changes, s.edges), dirty: s.dirty || changes.some((c) => c.type !== "select") })),
    onConnect: (connection) => {
      if (!connection.source || !connection.target) return;
      set((s) => ({ edges: addEdge(edgeFromConnection(connection), s.edges), dirty: true }));
    },
    addStep: (kind, position) => {
      const spec = getStepKind(kind) ?? stepKinds.transform;
      const id = nextStepId(kind, get().nodes.map((n) => n.id));
      const node: StepNode = { id, type: "step", position, data: { type: spec.kind, config: structuredClone(spec.defaultConfig) } };
      set((s) => ({ nodes: [...s.nodes, node], selectedId: id, dirty: true }));
      return id;
    },
    updateStep: (id, patch) =>
      set((s) => ({ nodes: s.nodes.map((n) => (n.id === id ? { ...n, data: { ...n.data, ...patch } } : n)), dirty: true })),
    renameStep: (id, newId) => {
      if (id === newId || get().nodes.some((n) => n.id === newId)) return;
      set((s) => ({
        nodes: s.nodes.map((n) => (n.id === id ? { ...n, id: newId } : n)),
        edges: s.edges.map((e) => {
          const source = e.source === id ? newId : e.source;
          const target = e.target === id ? newId : e.target;
          return { ...e, source, target, id: edgeId({ from: source, to: target, when: whenOf(e.sourceHandle) }) };
        }),
        selectedId: s.selectedId === id ? newId : s.selectedId,
        issues: s.issues.filter((i) => i.stepId !== id),
        dirty: true,
      }));
    },
    setMeta: (patch) => set((s) => ({ meta: { ...s.meta, ...patch }, dirty: true })),
    select: (id) => set({ selectedId: id }),
    definition: () => {
      const s = get();
      return canvasToDefinition(s.meta, s.nodes, s.edges);
    },
    setIssues: (issues) => set({ issues }),
    markSaved: (version) => set({ savedVersion: version, dirty: false, issues: [], isNew: false }),
    loadDefinition: (definition, version) => {
      const { steps: _s, edges: _e, ...meta } = definition;
      const canvas = toNodes(definition);
      set({ meta, nodes: canvas.nodes as StepNode[], edges: canvas.edges as Edge[], selectedId: null, savedVersion: version, dirty: false, issues: [], isNew: false });
    },
    importDefinition: (definition, issues) => {
      const { steps: _s, edges: _e, id: _id, ...meta } = definition;
      const canvas = toNodes(definition);
      set((s) => ({ meta: { ...meta, id: s.meta.id }, nodes: canvas.nodes as StepNode[], edges: canvas.edges as Edge[], selectedId: null, dirty: true, issues }));
    },
    startRun: (runId) => set({ run: { runId, status: "queued", lastSeq: 0, steps: {} } }),
    syncRun: (stored) => set((s) => (s.run?.runId === stored.runId && s.run.lastSeq >= stored.lastSeq ? {} : { run: stored })),
    applyRunEvent: (event) =>
      set((s) => {
        const run = s.run;
        if (!run || run.runId !== event.runId || event.seq <= run.lastSeq) return {};
        const next: LiveRun = { ...run, lastSeq: event.seq, steps: { ...run.steps } };
        if (event.type === "run.status") {
          next.status = event.status;
          next.error = event.error;
        } else if (event.type === "step.retry") {
          // The attempt failed and will be tried again: show why, keep the step running.
          const previous = run.steps[event.stepId];
          next.steps[event.stepId] = { ...(previous ?? { status: "running", execution: event.execution, tokens: "" }), attempt: event.attempt + 1, retryError: event.error };
        } else if (event.type === "step.log") {
          const previous = run.steps[event.stepId] ?? { status: "running" as const, execution: event.execution, tokens: "" };
          next.steps[event.stepId] = { ...previous, logs: [...(previous.logs ?? []), { level: event.level, text: event.text }] };
        } else {
          const previous = run.steps[event.stepId];
          const sameExecution = previous && (event.execution === 0 || previous.execution === event.execution);
          next.steps[event.stepId] = {
            status: event.status,
            execution: event.execution || previous?.execution || 0,
            tokens: event.status === "running" && !sameExecution ? "" : (previous?.tokens ?? ""),
            output: event.output ?? (sameExecution ? previous?.output : undefined),
            error: event.error,
            attempt: event.attempts ?? (sameExecution ? previous?.attempt : undefined),
            logs: sameExecution ? previous?.logs : undefined,
          };
        }
        return { run: next };
      }),
    appendToken: (event) =>
      set((s) => {
        const run = s.run;
        if (!run || run.runId !== event.runId) return {};
        const step = run.steps[event.stepId] ?? { status: "running" as const, execution: event.execution, tokens: "" };
        return { run: { ...run, steps: { ...run.steps, [event.stepId]: { ...step, tokens: step.tokens + event.text } } } };
      }),
  }));
}

const EditorContext = createContext<StoreApi<EditorState> | null>(null);

export function EditorStoreProvider({ init, children }: { init: EditorInit; children: ReactNode }) {
  const [store] = useState(() => createEditorStore(init));
  return <EditorContext.Provider value={store}>{children}</EditorContext.Provider>;
}

export function useEditor<T>(selector: (state: EditorState) => T): T {
  const store = useContext(EditorContext);
  if (!store) throw new Error("useEditor must be used inside <EditorStoreProvider>");
  return useStore(store, selector);
}

export function useEditorApi(): StoreApi<EditorState> {
  const store = useContext(EditorContext);
  if (!store) throw new Error("useEditorApi must be used inside <EditorStoreProvider>");
  return store;
}
