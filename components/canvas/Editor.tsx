"use client";

import { ControlButton, Controls, MiniMap, ReactFlow, ReactFlowProvider, useReactFlow } from "@xyflow/react";
import dynamic from "next/dynamic";
import Link from "next/link";
import { useRouter, useSearchParams } from "next/navigation";
import { useCallback, useEffect, useMemo, useRef, useState, useTransition } from "react";
import { removeWorkflow, runWorkflow, saveWorkflow } from "@/app/workflows/actions";
import { CancelRunButton } from "@/components/runs/CancelRunButton";
import { StatusBadge } from "@/components/ui/status";
import { useRunEvents, useWorkflowRuns } from "@/lib/realtime/client";
import type { RunStatus } from "@/lib/runner/event-types";
import { runInputMode } from "@/lib/workflow/input-form";
import { AuditLink } from "@/components/audit/AuditLink";
import { EditorStoreProvider, useEditor, useEditorApi, useEditorHistory, type EditorInit, type StepNode } from "./editor-store";
import { clearDraft } from "./drafts";
import { documentOf, hasInvalidFields, invalidFieldIssues } from "./editor-history";
import { useFitWorkflow, useOpeningViewport } from "./fit-view";
import { ImportExport } from "./ImportExport";
import { UnsavedChanges } from "./UnsavedChanges";
import { Inspector } from "./Inspector";
import { DRAG_MIME, Palette } from "./Palette";
import type { RunInputMode } from "./RunDialog";
import { ShareDialog } from "./ShareDialog";
import { ScheduleDialog } from "./ScheduleDialog";
import { useRestoreVersion, VersionsMenu, type VersionInfo } from "./VersionsMenu";
import { CanvasBackground } from "./CanvasBackground";
import { nodeTypes } from "./StepNode";
import { PANEL_MARGIN, type FitOptions } from "./viewport";

/**
 * The run dialog validates input with Ajv, whose code (~120 KB) cost every opening of the editor ~70 ms: it loads
 * on its own, when the pointer or the focus comes to the Run buttons (or the dialog opens).
 */
const loadRunDialog = () => import("./RunDialog");
const RunDialog = dynamic(() => loadRunDialog().then((m) => m.RunDialog), { ssr: false });
const preloadRunDialog = () => void loadRunDialog();

/**
 * The workflow editor. With `init.readOnly` (view access) it only shows: no palette, no editing on the canvas or
 * in the inspector, no Save, Run, Import, webhook changes or Delete, and `readOnlyNotice` says why.
 * `canShare`: the Share button (the workflow's owner and admins).
 */
export function Editor({ init, versions, canShare = false, readOnlyNotice }: { init: EditorInit; versions: VersionInfo[]; canShare?: boolean; readOnlyNotice?: string }) {
  // Drafts belong to the latest version's page; an old version's page is for looking back.
  const viewingOldVersion = useSearchParams().has("version");
  const readOnly = init.readOnly ?? false;
  return (
    <EditorStoreProvider init={init}>
      <ReactFlowProvider>
        <div className="flex h-full flex-col">
          <Toolbar versions={versions} canShare={canShare} />
          {readOnly && (
            <div data-testid="read-only-banner" className="shrink-0 border-b border-sky-200 bg-sky-50 px-3 py-1 text-xs text-sky-900">
              {readOnlyNotice ?? "View only: you can look at this workflow but not change or run it."}
            </div>
          )}
          <UnsavedChanges keepDraft={!viewingOldVersion && !readOnly} />
          <div className="flex min-h-0 flex-1">
            {!readOnly && <PaletteWithAdd />}
            <Canvas />
            <Inspector />
          </div>
        </div>
      </ReactFlowProvider>
    </EditorStoreProvider>
  );
}

function PaletteWithAdd() {
  const addStep = useEditor((s) => s.addStep);
  const api = useEditorApi();
  // Click-to-add puts the step under the lowest one.
  const onAdd = (kind: string) => {
    const nodes = api.getState().nodes;
    const bottom = nodes.reduce((max, n) => Math.max(max, n.position.y), -150);
    addStep(kind, { x: nodes.at(-1)?.position.x ?? 0, y: bottom + 150 });
  };
  return <Palette onAdd={onAdd} />;
}

/** The minimap (React Flow's default size) and the zoom controls (5 buttons of 26 px): a fit keeps nodes clear of them. */
const MINIMAP_STYLE = { width: 200, height: 150 };
const EDITOR_FIT: FitOptions = {
  maxZoom: 1,
  bottomRight: { width: MINIMAP_STYLE.width + PANEL_MARGIN, height: MINIMAP_STYLE.height + PANEL_MARGIN },
  bottomLeft: { width: 26 + PANEL_MARGIN, height: 5 * 27 + PANEL_MARGIN },
};
/**
 * From this many steps on, React Flow renders only the nodes and edges in view. It costs a pass over all nodes per
 * viewport change, which small workflows do not need (React Flow's performance guide).
 */
const RENDER_VISIBLE_ONLY_FROM = 200;
/**
 * The minimap draws every node and is repainted whole on each frame of a drag: from this many steps on it starts
 * folded (the button in the zoom controls shows it), at 5,000 steps it cost a quarter of each drag frame.
 */
const MINIMAP_FOLDED_FROM = 2000;
// Props of <ReactFlow> keep their identity across renders: a new object or function is a store update in React Flow.
const DEFAULT_EDGE_OPTIONS = { type: "smoothstep" };
const PRO_OPTIONS = { hideAttribution: true };
const DELETE_KEYS = ["Backspace", "Delete"];
const onDragOver = (event: React.DragEvent) => {
  event.preventDefault();
  event.dataTransfer.dropEffect = "move";
};

function Canvas() {
  const api = useEditorApi();
  const nodes = useEditor((s) => s.nodes);
  const edges = useEditor((s) => s.edges);
  const onNodesChange = useEditor((s) => s.onNodesChange);
  const onEdgesChange = useEditor((s) => s.onEdgesChange);
  const onConnect = useEditor((s) => s.onConnect);
  const addStep = useEditor((s) => s.addStep);
  const select = useEditor((s) => s.select);
  const readOnly = useEditor((s) => s.readOnly);
  const { screenToFlowPosition } = useReactFlow();
  const container = useRef<HTMLDivElement>(null);
  const storeNodes = useCallback(() => api.getState().nodes, [api]);
  // The whole workflow on open; a canvas that starts empty stays at zoom 1, so the first dropped step does not jump.
  const opening = useOpeningViewport(container, storeNodes, EDITOR_FIT);
  const fit = useFitWorkflow(storeNodes, EDITOR_FIT);
  const onNodeClick = useCallback((_: React.MouseEvent, node: StepNode) => select(node.id), [select]);
  const onPaneClick = useCallback(() => select(null), [select]);
  const [showMinimap, setShowMinimap] = useState(() => api.getState().nodes.length < MINIMAP_FOLDED_FROM);
  const toggleMinimap = useCallback(() => setShowMinimap((shown) => !shown), []);

  const onDrop = useCallback(
    (event: React.DragEvent) => {
      event.preventDefault();
      const kind = event.dataTransfer.getData(DRAG_MIME);
      if (!kind || readOnly) return;
      const at = screenToFlowPosition({ x: event.clientX, y: event.clientY });
      addStep(kind, { x: at.x - 104, y: at.y - 24 });
    },
    [addStep, screenToFlowPosition, readOnly],
  );

  return (
    <div ref={container} className="relative min-w-0 flex-1" data-testid="canvas" onDrop={onDrop} onDragOver={onDragOver}>
      {opening && (
        <ReactFlow
          nodes={nodes}
          edges={edges}
          nodeTypes={nodeTypes}
          onNodesChange={onNodesChange}
          onEdgesChange={onEdgesChange}
          onConnect={onConnect}
          onNodeClick={onNodeClick}
          onPaneClick={onPaneClick}
          deleteKeyCode={readOnly ? null : DELETE_KEYS}
          nodesDraggable={!readOnly}
          nodesConnectable={!readOnly}
          defaultViewport={opening.viewport}
          minZoom={opening.minZoom}
          onlyRenderVisibleElements={nodes.length >= RENDER_VISIBLE_ONLY_FROM}
          defaultEdgeOptions={DEFAULT_EDGE_OPTIONS}
          proOptions={PRO_OPTIONS}
        >
          <CanvasBackground />
          <Controls showFitView={false}>
            <ControlButton onClick={fit} title="fit the whole workflow" aria-label="fit the whole workflow" data-testid="fit-view">
              ⤢
            </ControlButton>
            <ControlButton onClick={toggleMinimap} title={showMinimap ? "hide the minimap" : "show the minimap"} aria-pressed={showMinimap} data-testid="minimap-toggle">
              ▦
            </ControlButton>
          </Controls>
          {showMinimap && <MiniMap pannable zoomable className="!bg-white" style={MINIMAP_STYLE} />}
        </ReactFlow>
      )}
      {nodes.length === 0 && !readOnly && (
        <div className="pointer-events-none absolute inset-0 grid place-items-center text-sm text-neutral-400">Drag a step from the palette to start</div>
      )}
    </div>
  );
}

const ENDED: RunStatus[] = ["succeeded", "failed", "cancelled"];

function Toolbar({ versions, canShare }: { versions: VersionInfo[]; canShare: boolean }) {
  const api = useEditorApi();
  const readOnly = useEditor((s) => s.readOnly);
  const [sharing, setSharing] = useState(false);
  const [scheduling, setScheduling] = useState(false);
  const router = useRouter();
  const name = useEditor((s) => s.meta.name);
  const id = useEditor((s) => s.meta.id);
  const dirty = useEditor((s) => s.dirty);
  const savedVersion = useEditor((s) => s.savedVersion);
  const issues = useEditor((s) => s.issues);
  const run = useEditor((s) => s.run);
  const applyRunUpdates = useEditor((s) => s.applyRunUpdates);
  const [message, setMessage] = useState<{ kind: "ok" | "error"; text: string; invalidText?: true }>();
  // The "not saved: invalid text" message goes once the texts are fixed.
  const hasInvalidText = useEditor((s) => hasInvalidFields(s.invalidFields));
  useEffect(() => {
    if (!hasInvalidText) setMessage((m) => (m?.invalidText ? undefined : m));
  }, [hasInvalidText]);
  const [dialog, setDialog] = useState<{ error?: string; mode?: RunInputMode } | null>(null);
  const [saving, startSaving] = useTransition();
  const [starting, startStarting] = useTransition();
  const { restore, busy: restoring, error: restoreError } = useRestoreVersion(id);

  // Follow the run while it goes on, from the last event the editor has (a run found going on when the editor
  // opened starts from its stored state); the workflow's runs started elsewhere are noticed and followed too.
  const followedRunId = run && !ENDED.includes(run.status) ? run.runId : null;
  const followFrom = useMemo(() => (followedRunId ? (api.getState().run?.lastSeq ?? 0) : 0), [followedRunId, api]);
  useRunEvents(followedRunId, followFrom, { onUpdates: applyRunUpdates });
  const isNew = useEditor((s) => s.isNew);
  useWorkflowRuns(isNew ? null : id, (activeRunId) => {
    const current = api.getState().run;
    if (!activeRunId || (current && !ENDED.includes(current.status))) return;
    api.getState().startRun(activeRunId, { again: current?.runId === activeRunId });
  });

  /** Text that a field could not take would be lost by saving what the store holds: say which, save nothing. */
  const blockedByInvalidText = (action: "saved" | "run") => {
    const invalid = invalidFieldIssues(api.getState().invalidFields);
    if (!invalid.length) return false;
    setMessage({ kind: "error", text: `Not ${action}: ${invalid[0].message}${invalid.length > 1 ? ` (and ${invalid.length - 1} more)` : ""}`, invalidText: true });
    return true;
  };

  const save = async (): Promise<boolean> => {
    const state = api.getState();
    if (blockedByInvalidText("saved")) return false;
    const basis = documentOf(state);
    const result = await saveWorkflow(state.definition());
    if (!result.ok) {
      state.setIssues(result.issues ?? []);
      setMessage({ kind: "error", text: result.issues?.length ? `Not saved: ${result.issues.length} problem(s) to fix` : result.message });
      return false;
    }
    api.getState().markSaved(result.version, basis);
    setMessage({ kind: "ok", text: `Saved version ${result.version}` });
    router.refresh(); // the version list; the editor keeps its state (same key)
    return true;
  };

  const start = (input: unknown) =>
    startStarting(async () => {
      const result = await runWorkflow(id, input);
      if (!result.ok) {
        if (dialog) setDialog({ ...dialog, error: result.message });
        else setMessage({ kind: "error", text: result.message });
        return;
      }
      setDialog(null);
      setMessage(undefined);
      api.getState().startRun(result.runId);
    });

  // Run asks for input when the schema has fields to fill, else starts at once; "with input…" always asks
  // (as JSON when there is no form to show, e.g. a workflow without an input schema).
  const onRun = (askForInput: boolean) =>
    startSaving(async () => {
      if (blockedByInvalidText("run")) return;
      if (api.getState().dirty || api.getState().isNew) if (!(await save())) return;
      const mode = runInputMode(api.getState().meta.input);
      if (mode || askForInput) setDialog({ mode: mode ?? "json" });
      else start({});
    });

  const inputSchema = useEditor((s) => s.meta.input);
  return (
    <div className="flex h-11 shrink-0 items-center gap-3 border-b border-neutral-200 bg-white px-3 text-sm">
      <span className="font-semibold" data-testid="workflow-title">{name}</span>
      <span data-testid="saved-version" className="text-xs text-neutral-500">
        {savedVersion ? `v${savedVersion}` : "not saved"}
        {dirty && <span data-testid="dirty-indicator" className="ml-1 text-amber-600">• unsaved changes</span>}
      </span>
      {!isNew && <Link href={`/runs?workflow=${encodeURIComponent(id)}`} data-testid="workflow-runs" className="text-xs text-blue-700 hover:underline">Runs</Link>}
      {versions.length > 1 && <VersionsMenu workflowId={id} versions={versions} openVersion={savedVersion} />}
      {savedVersion !== null && <AuditLink workflowId={id} />}
      {!readOnly && savedVersion !== null && versions.length > 0 && savedVersion < versions[0].version && (
        <button
          type="button"
          data-testid="restore-version"
          disabled={restoring}
          onClick={() => restore(savedVersion)}
          className="rounded border border-amber-300 bg-amber-50 px-2 py-0.5 text-xs font-medium text-amber-800 hover:bg-amber-100"
        >
          Restore v{savedVersion} as latest
        </button>
      )}
      {restoreError && <span data-testid="error-message" className="text-xs text-red-600">{restoreError}</span>}
      {message && (
        <span data-testid={message.kind === "ok" ? "save-message" : "error-message"} className={`text-xs ${message.kind === "ok" ? "text-emerald-700" : "text-red-600"}`}>
          {message.text}
        </span>
      )}
      {issues.length > 0 && <ProblemsList />}
      <div className="ml-auto flex items-center gap-2">
        {run && (
          <>
            <StatusBadge status={run.status} testId="run-status" />
            {!readOnly && (run.status === "queued" || run.status === "running" || run.status === "waiting") && <CancelRunButton runId={run.runId} />}
            <Link href={`/runs/${run.runId}`} data-testid="open-run" className="text-xs text-blue-700 hover:underline">Open run</Link>
          </>
        )}
        {!isNew && (
          <Link href={`/workflows/${encodeURIComponent(id)}/dashboard`} data-testid="open-dashboard" className="text-xs text-neutral-600 hover:underline">
            Dashboard
          </Link>
        )}
        {!isNew && (
          <button type="button" data-testid="schedules-button" onClick={() => setScheduling(true)} className="rounded border border-neutral-300 px-3 py-1 font-medium hover:bg-neutral-50">
            Schedules
          </button>
        )}
        {canShare && !isNew && (
          <button type="button" data-testid="share-button" onClick={() => setSharing(true)} className="rounded border border-neutral-300 px-3 py-1 font-medium hover:bg-neutral-50">
            Share
          </button>
        )}
        {!readOnly && !isNew && <DeleteWorkflowButton />}
        {!readOnly && <UndoRedoButtons />}
        <ImportExport fitOptions={EDITOR_FIT} canImport={!readOnly} />
        {!readOnly && (
          <>
            <button type="button" data-testid="save-button" disabled={saving} onClick={() => startSaving(async () => void (await save()))} className="rounded border border-neutral-300 px-3 py-1 font-medium hover:bg-neutral-50 disabled:opacity-50">
              Save
            </button>
            <div className="flex" onPointerEnter={preloadRunDialog} onFocus={preloadRunDialog}>
              <button type="button" data-testid="run-button" disabled={saving || starting} onClick={() => onRun(false)} className="rounded-l bg-blue-600 px-3 py-1 font-medium text-white hover:bg-blue-500 disabled:opacity-50">
                ▶ Run
              </button>
              <button
                type="button"
                data-testid="run-with-input"
                title="Run with input…"
                disabled={saving || starting}
                onClick={() => onRun(true)}
                className="rounded-r border-l border-blue-400 bg-blue-600 px-2 py-1 text-xs font-medium text-white hover:bg-blue-500 disabled:opacity-50"
              >
                with input…
              </button>
            </div>
          </>
        )}
      </div>
      {sharing && <ShareDialog workflowId={id} onClose={() => setSharing(false)} />}
      {scheduling && <ScheduleDialog workflowId={id} canChange={!readOnly} onClose={() => setScheduling(false)} />}
      {dialog && <RunDialog workflowId={id} schema={inputSchema} initialMode={dialog.mode} busy={starting} error={dialog.error} onClose={() => setDialog(null)} onRun={start} />}
    </div>
  );
}

/** Deletes the workflow after a confirm (its runs stay in the history) and goes back to the list. */
function DeleteWorkflowButton() {
  const api = useEditorApi();
  const router = useRouter();
  const [error, setError] = useState<string>();
  const [pending, start] = useTransition();
  const remove = () => {
    const { meta } = api.getState();
    if (!window.confirm(`Delete the workflow "${meta.name}"? Its versions, shares and webhook are deleted; its runs stay in the history.`)) return;
    start(async () => {
      const result = await removeWorkflow(meta.id);
      if (!result.ok) return setError(result.message);
      // Nothing is left to keep: no draft, no question before leaving.
      if (api.getState().dirty) api.getState().discardChanges();
      clearDraft(meta.id);
      router.push("/");
    });
  };
  return (
    <>
      {error && <span data-testid="delete-error" className="text-xs text-red-600">{error}</span>}
      <button type="button" data-testid="delete-workflow" disabled={pending} onClick={remove} className="rounded border border-red-200 px-3 py-1 font-medium text-red-700 hover:bg-red-50 disabled:opacity-50">
        Delete
      </button>
    </>
  );
}

function UndoRedoButtons() {
  const api = useEditorApi();
  const canUndo = useEditorHistory((h) => h.pastStates.length > 0);
  const canRedo = useEditorHistory((h) => h.futureStates.length > 0);
  const button = "rounded border border-neutral-300 px-2 py-1 hover:bg-neutral-50 disabled:opacity-40";
  return (
    <>
      <button type="button" data-testid="undo-button" disabled={!canUndo} onClick={() => api.getState().undo()} title="Undo (Ctrl+Z / ⌘Z)" aria-label="Undo" className={button}>
        ↶
      </button>
      <button type="button" data-testid="redo-button" disabled={!canRedo} onClick={() => api.getState().redo()} title="Redo (Ctrl+Shift+Z, Ctrl+Y / ⌘⇧Z)" aria-label="Redo" className={button}>
        ↷
      </button>
    </>
  );
}

function ProblemsList() {
  const issues = useEditor((s) => s.issues);
  const select = useEditor((s) => s.select);
  const [open, setOpen] = useState(true);
  return (
    <div className="relative">
      <button type="button" data-testid="problems-toggle" onClick={() => setOpen(!open)} className="rounded bg-red-50 px-2 py-0.5 text-xs font-medium text-red-700">
        {issues.length} problem{issues.length === 1 ? "" : "s"}
      </button>
      {open && (
        <ul data-testid="problems" className="absolute left-0 top-7 z-40 w-96 space-y-1 rounded border border-red-200 bg-white p-2 shadow-lg">
          {issues.map((issue, i) => (
            <li key={i}>
              <button type="button" onClick={() => issue.stepId && select(issue.stepId)} className="w-full text-left text-xs text-red-700 hover:underline">
                {issue.message}
              </button>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
