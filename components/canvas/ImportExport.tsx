"use client";

import { useCallback, useState } from "react";
import { checkWorkflow } from "@/app/workflows/actions";
import type { ValidationIssue } from "@/lib/workflow/schema";
import { useEditor, useEditorApi } from "./editor-store";
import { useFitWorkflow } from "./fit-view";
import type { FitOptions } from "./viewport";

/** Problems that leave nothing the canvas can show: the import is refused and the canvas stays as it was. */
const BLOCKING = new Set(["DUPLICATE_STEP_ID", "UNKNOWN_EDGE_STEP", "NESTING_LIMIT", "DEFINITION_TOO_LARGE"]);
const SHOWN_ISSUES = 5;

const listIssues = (issues: ValidationIssue[]) =>
  issues
    .slice(0, SHOWN_ISSUES)
    .map((i) => `• ${i.message}`)
    .join("\n") + (issues.length > SHOWN_ISSUES ? `\n… and ${issues.length - SHOWN_ISSUES} more` : "");

/**
 * Toolbar buttons: Import (a definition file, or pasted JSON, replaces the canvas as unsaved changes of this
 * workflow) and Export (the current definition as a JSON file). Without `canImport` (view only), Export alone.
 */
export function ImportExport({ fitOptions, canImport = true }: { fitOptions: FitOptions; canImport?: boolean }) {
  const api = useEditorApi();
  const importDefinition = useEditor((s) => s.importDefinition);
  const storeNodes = useCallback(() => api.getState().nodes, [api]);
  const fit = useFitWorkflow(storeNodes, fitOptions);
  const [open, setOpen] = useState(false);
  const [text, setText] = useState("");
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);

  const importText = async (json: string, source: string) => {
    setError(undefined);
    let raw: unknown;
    try {
      raw = JSON.parse(json);
    } catch (err) {
      setError(`Not imported: ${source} is not valid JSON (${(err as Error).message}). The canvas is unchanged.`);
      return;
    }
    if (!raw || typeof raw !== "object" || Array.isArray(raw)) {
      setError(`Not imported: ${source} holds ${Array.isArray(raw) ? "a list" : "no object"}; a workflow is one JSON object with "name" and "steps" (and "edges"). The canvas is unchanged.`);
      return;
    }
    setBusy(true);
    try {
      // It stays this workflow: its id wins over the file's (a file without one is fine).
      const result = await checkWorkflow({ ...raw, id: api.getState().meta.id });
      if (!result.ok) return setError(`Not imported: ${result.message}`);
      const blocking = result.issues.filter((i) => BLOCKING.has(i.code));
      if (!result.definition || blocking.length)
        return setError(`Not imported: ${source} is not a valid workflow definition. The canvas is unchanged.\n${listIssues(blocking.length ? blocking : result.issues)}`);
      // Problems the canvas can show (an empty prompt, a bad expression) come along, marked on their steps.
      importDefinition(result.definition, result.issues);
      fit();
      setOpen(false);
      setText("");
    } finally {
      setBusy(false);
    }
  };

  const onFile = async (event: React.ChangeEvent<HTMLInputElement>) => {
    const file = event.target.files?.[0];
    event.target.value = ""; // the same file can be chosen again after fixing it
    if (file) await importText(await file.text(), `"${file.name}"`);
  };

  const exportDefinition = () => {
    const definition = api.getState().definition();
    const url = URL.createObjectURL(new Blob([`${JSON.stringify(definition, null, 2)}\n`], { type: "application/json" }));
    const link = document.createElement("a");
    link.href = url;
    link.download = `${definition.id}.json`;
    link.click();
    setTimeout(() => URL.revokeObjectURL(url), 0);
  };

  return (
    <>
      {canImport && (
        <button type="button" data-testid="import-button" onClick={() => setOpen(true)} className="rounded border border-neutral-300 px-3 py-1 font-medium hover:bg-neutral-50">
          Import
        </button>
      )}
      <button type="button" data-testid="export-button" onClick={exportDefinition} className="rounded border border-neutral-300 px-3 py-1 font-medium hover:bg-neutral-50">
        Export
      </button>
      {open && canImport && (
        <div className="fixed inset-0 z-50 grid place-items-center bg-black/30" role="dialog" aria-modal="true" aria-labelledby="import-title" data-testid="import-dialog">
          <form
            className="w-[520px] space-y-3 rounded-lg bg-white p-4 shadow-xl"
            onSubmit={(event) => {
              event.preventDefault();
              void importText(text, "the pasted text");
            }}
          >
            <h2 id="import-title" className="text-sm font-semibold">Import a workflow</h2>
            <p className="text-xs text-neutral-600">
              A workflow definition (JSON, as Export or the CLI writes it, or the simple form <code className="font-mono">{'{ "name", "steps" }'}</code>) replaces
              what is on the canvas. It stays this workflow (same id) and is not saved until you save.
            </p>
            <label className="block text-xs font-medium text-neutral-600">
              File
              <input type="file" accept="application/json,.json" data-testid="import-file" disabled={busy} onChange={onFile} className="mt-1 block w-full text-sm" />
            </label>
            <label className="block text-xs font-medium text-neutral-600">
              …or paste the JSON
              <textarea
                data-testid="import-text"
                value={text}
                onChange={(e) => setText(e.target.value)}
                rows={8}
                spellCheck={false}
                className="mt-1 w-full rounded border border-neutral-300 px-2 py-1 font-mono text-[12px]"
              />
            </label>
            {error && (
              <p data-testid="import-error" role="alert" className="whitespace-pre-wrap rounded bg-red-50 px-2 py-1 text-xs text-red-700">
                {error}
              </p>
            )}
            <div className="flex justify-end gap-2">
              <button type="button" onClick={() => setOpen(false)} className="rounded px-3 py-1.5 text-sm text-neutral-600 hover:bg-neutral-100">
                Cancel
              </button>
              <button type="submit" data-testid="import-submit" disabled={busy || !text.trim()} className="rounded bg-blue-600 px-3 py-1.5 text-sm font-medium text-white hover:bg-blue-500 disabled:opacity-50">
                {busy ? "Checking…" : "Import"}
              </button>
            </div>
          </form>
        </div>
      )}
    </>
  );
}
