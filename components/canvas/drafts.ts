import type { WorkflowDefinition } from "@/lib/workflow/schema";
import type { InvalidFields } from "./editor-history";

/**
 * Unsaved drafts in the browser's localStorage, one per workflow: what the editor holds that is not saved
 * (the definition and any kept invalid field texts), the version it was based on, and when it was written.
 */

export interface StoredDraft {
  format: 1;
  workflowId: string;
  /** The saved version the edits started from (null: the workflow was not saved yet). */
  basedOnVersion: number | null;
  /** When the draft was written (ms since the epoch). */
  savedAt: number;
  definition: WorkflowDefinition;
  invalidFields: InvalidFields;
}

/**
 * Drafts larger than this are not kept: browsers give an origin about 5 million characters of localStorage,
 * shared by every draft (a 5,000-step workflow is well under a million).
 */
export const MAX_DRAFT_CHARS = 2_500_000;

const keyOf = (workflowId: string) => `orchestrator:draft:${workflowId}`;

export function readDraft(workflowId: string): StoredDraft | null {
  try {
    const text = window.localStorage.getItem(keyOf(workflowId));
    if (!text) return null;
    const draft = JSON.parse(text) as StoredDraft;
    if (draft?.format === 1 && draft.workflowId === workflowId && Array.isArray(draft.definition?.steps) && typeof draft.savedAt === "number") return draft;
    window.localStorage.removeItem(keyOf(workflowId)); // unreadable: of no use to anyone
  } catch {
    /* storage unavailable or a damaged entry: no draft */
  }
  return null;
}

export type DraftWrite = "written" | "too-large" | "failed";

export function writeDraft(draft: Omit<StoredDraft, "format">): DraftWrite {
  const text = JSON.stringify({ format: 1, ...draft });
  try {
    if (text.length > MAX_DRAFT_CHARS) {
      window.localStorage.removeItem(keyOf(draft.workflowId)); // an older, smaller draft would mislead
      return "too-large";
    }
    window.localStorage.setItem(keyOf(draft.workflowId), text);
    return "written";
  } catch {
    // Quota exceeded (other drafts) or storage disabled.
    try {
      window.localStorage.removeItem(keyOf(draft.workflowId));
    } catch {
      /* nothing to do */
    }
    return "failed";
  }
}

export function clearDraft(workflowId: string) {
  try {
    window.localStorage.removeItem(keyOf(workflowId));
  } catch {
    /* storage unavailable */
  }
}
