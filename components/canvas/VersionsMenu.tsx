"use client";

import { useRouter, useSearchParams } from "next/navigation";
import { useState, useTransition } from "react";
import { restoreVersion } from "@/app/workflows/actions";
import { useEditor, useEditorApi } from "./editor-store";
import { confirmLeave } from "./UnsavedChanges";

export interface VersionInfo {
  version: number;
  createdAt: string;
}

/**
 * Rolls the workflow back to a saved version: saves it again as the newest one (history is kept) and shows it.
 * Unsaved edits are only discarded after the user agreed.
 */
export function useRestoreVersion(workflowId: string) {
  const api = useEditorApi();
  const router = useRouter();
  const viewingOldVersion = useSearchParams().has("version");
  const [error, setError] = useState<string>();
  const [busy, startRestoring] = useTransition();
  const restore = (version: number, done?: () => void) =>
    startRestoring(async () => {
      if (api.getState().dirty && !window.confirm(`Discard your unsaved changes and restore v${version}?`)) return;
      const result = await restoreVersion(workflowId, version);
      if (!result.ok) return setError(result.message);
      setError(undefined);
      done?.();
      // On the latest version's page the editor takes the restored definition in place; from an old
      // version's page, the latest page shows it.
      if (viewingOldVersion) router.push(`/workflows/${workflowId}`);
      else {
        api.getState().loadDefinition(result.definition, result.version);
        router.refresh(); // the versions list
      }
    });
  return { restore, busy, error };
}

/** The workflow's saved versions, newest first: open any of them, or roll back to one in one click (edit access). */
export function VersionsMenu({ workflowId, versions, openVersion }: { workflowId: string; versions: VersionInfo[]; openVersion: number | null }) {
  const router = useRouter();
  const api = useEditorApi();
  const readOnly = useEditor((s) => s.readOnly);
  const [open, setOpen] = useState(false);
  const { restore, busy, error } = useRestoreVersion(workflowId);
  // Right after a save or restore the list may not have the new version yet; the editor knows it.
  const latest = Math.max(versions[0]?.version ?? 0, openVersion ?? 0);

  return (
    <div className="relative">
      <button type="button" data-testid="versions-toggle" onClick={() => setOpen(!open)} className="rounded border border-neutral-200 px-2 py-0.5 text-xs hover:bg-neutral-50">
        Versions ({versions.length}) ▾
      </button>
      {open && (
        <div data-testid="versions" className="absolute left-0 top-7 z-40 w-80 rounded border border-neutral-200 bg-white p-1 shadow-lg">
          <ul className="max-h-80 overflow-y-auto">
            {versions.map((v) => (
              <li key={v.version} data-testid={`version-${v.version}`} className={`flex items-center gap-2 rounded px-2 py-1 text-xs ${v.version === openVersion ? "bg-blue-50" : ""}`}>
                <span className="font-medium">v{v.version}</span>
                <span className="text-neutral-500">{new Date(v.createdAt).toLocaleString()}</span>
                <span className="ml-auto flex items-center gap-2">
                  {v.version === latest && <span className="text-emerald-700">latest</span>}
                  {v.version !== openVersion && (
                    <button
                      type="button"
                      data-testid={`open-version-${v.version}`}
                      onClick={() => {
                        if (!confirmLeave(api)) return;
                        setOpen(false);
                        router.push(`/workflows/${workflowId}${v.version === latest ? "" : `?version=${v.version}`}`);
                      }}
                      className="text-blue-700 hover:underline"
                    >
                      Open
                    </button>
                  )}
                  {v.version !== latest && !readOnly && (
                    <button type="button" data-testid={`restore-version-${v.version}`} disabled={busy} onClick={() => restore(v.version, () => setOpen(false))} className="font-medium text-amber-800 hover:underline disabled:opacity-50">
                      Restore
                    </button>
                  )}
                </span>
              </li>
            ))}
          </ul>
          {error && <p data-testid="versions-error" className="px-2 py-1 text-xs text-red-600">{error}</p>}
        </div>
      )}
    </div>
  );
}
