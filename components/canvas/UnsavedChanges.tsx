"use client";

import { useEffect, useState } from "react";
import { documentOf, sameDocument } from "./editor-history";
import { clearDraft, readDraft, writeDraft, type DraftWrite } from "./drafts";
import { useEditor, useEditorApi, type EditorStore } from "./editor-store";

/** Asked before leaving the editor with unsaved changes (in-app links, Back, opening another version). */
export const LEAVE_MESSAGE = "This workflow has unsaved changes. Leave the page anyway? (They stay as a draft in this browser.)";

/** Whether the user agrees to leave; true at once when nothing is unsaved. */
export function confirmLeave(store: EditorStore): boolean {
  return !store.getState().dirty || window.confirm(LEAVE_MESSAGE);
}

/**
 * Everything that keeps unsaved work: undo/redo shortcuts, the question before leaving, and the draft kept in
 * localStorage (restored on opening, with a banner to discard it). `keepDraft` is off on an old version's page.
 */
export function UnsavedChanges({ keepDraft }: { keepDraft: boolean }) {
  useUndoShortcuts();
  useLeaveGuard();
  const { restored, problem, dismiss } = useDraft(keepDraft);
  const api = useEditorApi();
  const savedVersion = useEditor((s) => s.savedVersion);
  if (!restored && !problem) return null;
  return (
    <div className="flex shrink-0 items-center gap-2 border-b border-amber-200 bg-amber-50 px-3 py-1 text-xs text-amber-900">
      {restored && (
        <span data-testid="draft-banner">
          Unsaved draft from {new Date(restored.savedAt).toLocaleString()} restored
          {restored.basedOnVersion !== savedVersion && (
            <span data-testid="draft-outdated" className="font-medium">
              {" "}
              — it was based on {restored.basedOnVersion === null ? "the workflow before its first save" : `v${restored.basedOnVersion}`}; v{savedVersion} has
              been saved since
            </span>
          )}
          {" — "}
          <button
            type="button"
            data-testid="draft-discard"
            onClick={() => {
              api.getState().discardChanges();
              dismiss();
            }}
            className="font-medium underline hover:text-amber-700"
          >
            Discard
          </button>
        </span>
      )}
      {problem && (
        <span data-testid="draft-problem">
          {problem === "too-large"
            ? "This workflow is too large to keep an unsaved draft in the browser: save to keep your changes."
            : "The browser did not keep a draft of your changes (storage full or disabled): save to keep them."}
        </span>
      )}
    </div>
  );
}

/** Ctrl+Z / Cmd+Z undo, Ctrl+Shift+Z and Ctrl+Y redo — not while typing, where the field's own undo applies. */
function useUndoShortcuts() {
  const api = useEditorApi();
  useEffect(() => {
    const onKeyDown = (event: KeyboardEvent) => {
      if (!(event.ctrlKey || event.metaKey) || event.altKey || isTextEntry(event.target)) return;
      const key = event.key.toLowerCase();
      const redo = (key === "z" && event.shiftKey) || (key === "y" && !event.shiftKey);
      if (key !== "z" && !redo) return;
      event.preventDefault();
      if (redo) api.getState().redo();
      else api.getState().undo();
    };
    window.addEventListener("keydown", onKeyDown);
    return () => window.removeEventListener("keydown", onKeyDown);
  }, [api]);
}

const NOT_TEXT = new Set(["checkbox", "radio", "button", "submit", "reset", "range", "color", "file", "image"]);

function isTextEntry(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable || target.tagName === "TEXTAREA" || target.tagName === "SELECT") return true;
  return target.tagName === "INPUT" && !NOT_TEXT.has((target as HTMLInputElement).type);
}

/** The parts of the Navigation API (Chromium, recent Firefox and Safari) used here; not in TypeScript's DOM types yet. */
interface NavigateEventLike extends Event {
  navigationType: "push" | "replace" | "reload" | "traverse";
}
interface NavigationLike {
  addEventListener(type: "navigate", listener: (event: NavigateEventLike) => void): void;
  removeEventListener(type: "navigate", listener: (event: NavigateEventLike) => void): void;
}

/**
 * With unsaved changes: the browser asks before a reload or closing (beforeunload); in-app links and Back ask
 * with a confirm. Next has no API to hold a client navigation, so links are caught before Next sees the click
 * (capture on window), and Back/Forward on the Navigation API's cancelable navigate event (where there is no
 * Navigation API, the draft still keeps the changes).
 */
function useLeaveGuard() {
  const api = useEditorApi();
  useEffect(() => {
    const dirty = () => api.getState().dirty;
    const onBeforeUnload = (event: BeforeUnloadEvent) => {
      if (!dirty()) return;
      event.preventDefault();
      event.returnValue = ""; // older browsers
    };
    const onClick = (event: MouseEvent) => {
      if (!dirty() || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
      const anchor = event.target instanceof Element ? event.target.closest<HTMLAnchorElement>("a[href]") : null;
      if (!anchor || (anchor.target && anchor.target !== "_self") || anchor.hasAttribute("download")) return;
      const url = new URL(anchor.href, window.location.href);
      if (url.origin !== window.location.origin) return; // a page load: beforeunload asks
      if (url.pathname === window.location.pathname && url.search === window.location.search) return;
      if (window.confirm(LEAVE_MESSAGE)) return;
      event.preventDefault();
      event.stopPropagation();
    };
    // Back/Forward: Next handles popstate itself (and unmounts this page in its listener, which runs first), so
    // the question is asked on the Navigation API's navigate event, which comes before it and can be cancelled.
    const navigation = (window as { navigation?: NavigationLike }).navigation;
    const onNavigate = (event: NavigateEventLike) => {
      if (event.navigationType !== "traverse" || !event.cancelable || !dirty()) return;
      if (!window.confirm(LEAVE_MESSAGE)) event.preventDefault();
    };
    window.addEventListener("beforeunload", onBeforeUnload);
    window.addEventListener("click", onClick, true);
    navigation?.addEventListener("navigate", onNavigate);
    return () => {
      window.removeEventListener("beforeunload", onBeforeUnload);
      window.removeEventListener("click", onClick, true);
      navigation?.removeEventListener("navigate", onNavigate);
    };
  }, [api]);
}

interface RestoredDraft {
  savedAt: number;
  basedOnVersion: number | null;
}

/** Drafts are written at most this often, and less often when writing one takes long (a large workflow). */
const DRAFT_INTERVAL_MS = 1000;

/**
 * Restores the workflow's draft on opening, automatically and marked unsaved (as editors that keep unsaved
 * work do: nothing to answer before getting back to work, and Discard or undo drops it), then keeps the
 * draft up to date while there are unsaved changes and removes it when there are none (saved, discarded,
 * undone). Writes are throttled and done when the browser is idle, so typing never waits for one.
 */
function useDraft(enabled: boolean) {
  const api = useEditorApi();
  const [restored, setRestored] = useState<RestoredDraft | null>(null);
  const [problem, setProblem] = useState<Exclude<DraftWrite, "written"> | null>(null);

  useEffect(() => {
    if (!enabled) return;
    const workflowId = api.getState().meta.id;
    const draft = readDraft(workflowId);
    if (draft) {
      try {
        api.getState().restoreDraft(draft.definition, draft.invalidFields ?? {});
        if (api.getState().dirty) setRestored({ savedAt: draft.savedAt, basedOnVersion: draft.basedOnVersion });
        else clearDraft(workflowId); // the same as what is saved
      } catch {
        clearDraft(workflowId); // a draft the canvas cannot show (written by another version of the app)
      }
    }

    let scheduled: number | undefined;
    let writeCost = 0;
    const write = () => {
      scheduled = undefined;
      const state = api.getState();
      if (!state.dirty) return clearDraft(workflowId);
      const started = performance.now();
      const result = writeDraft({
        workflowId,
        basedOnVersion: state.savedVersion,
        savedAt: Date.now(),
        definition: state.definition(),
        invalidFields: state.invalidFields,
      });
      writeCost = performance.now() - started;
      setProblem(result === "written" ? null : result);
    };
    const whenIdle = (fn: () => void) => (typeof window.requestIdleCallback === "function" ? window.requestIdleCallback(fn, { timeout: DRAFT_INTERVAL_MS }) : fn());
    const schedule = () => {
      if (scheduled !== undefined) return;
      // At most ~4% of the time goes to drafts: a write that took 40 ms waits a second, one of 100 ms 2.5 s.
      scheduled = window.setTimeout(() => whenIdle(write), Math.max(DRAFT_INTERVAL_MS, writeCost * 25));
    };
    const flush = () => {
      if (scheduled === undefined) return;
      window.clearTimeout(scheduled);
      write();
    };
    const unsubscribe = api.subscribe((state, previous) => {
      if (state.dirty !== previous.dirty || !sameDocument(documentOf(state), documentOf(previous))) schedule();
      // Once the changes are saved, discarded or undone, the restored draft is history.
      if (!state.dirty && previous.dirty) setRestored(null);
    });
    const onHidden = () => document.visibilityState === "hidden" && flush();
    window.addEventListener("pagehide", flush);
    document.addEventListener("visibilitychange", onHidden);
    return () => {
      unsubscribe();
      flush();
      window.removeEventListener("pagehide", flush);
      document.removeEventListener("visibilitychange", onHidden);
    };
  }, [api, enabled]);

  return { restored, problem, dismiss: () => setRestored(null) };
}
