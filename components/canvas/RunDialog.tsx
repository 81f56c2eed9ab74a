"use client";

import { useEffect, useMemo, useState } from "react";
import { checkRunInput, estimateRunCost } from "@/app/workflows/actions";
import { formatCost } from "@/components/ui/status";
import type { CostEstimate } from "@/lib/workflow/estimate";
import { editInput, formPaths, hasInputFields, initialValue, inputField, pathKey, withoutStaleErrors, type FieldPath } from "@/lib/workflow/input-form";
import { JsonInput } from "./fields";
import { InputForm } from "./InputForm";

export type RunInputMode = "form" | "json";

/**
 * Asks for the run input: a form drawn from the input schema (nested objects, lists, choices, checkboxes), or the
 * same value as raw JSON. The input is checked by the server's checker (a server action) before it is sent, each problem shown
 * next to its field; a workflow without an input schema gets the JSON view only.
 */
export function RunDialog({ workflowId, schema, initialMode, onRun, onClose, busy, error }: {
  workflowId: string;
  schema?: Record<string, unknown>;
  initialMode?: RunInputMode;
  onRun(input: unknown): void;
  onClose(): void;
  busy: boolean;
  error?: string;
}) {
  const field = useMemo(() => (schema ? inputField(schema) : undefined), [schema]);
  const formAvailable = Boolean(field && schema && hasInputFields(schema));
  const [mode, setMode] = useState<RunInputMode>(formAvailable ? (initialMode ?? "form") : "json");
  const [value, setValue] = useState<unknown>(() => (field ? initialValue(field) : {}));
  /** Problems by field path (`pathKey`), shown next to their field. */
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});
  /** Problems no field of the form shows (the input as a whole, properties the schema does not list). */
  const [otherProblems, setOtherProblems] = useState<string[]>([]);
  const [estimate, setEstimate] = useState<CostEstimate>();
  /** The input is being checked on the server before the run is sent. */
  const [checking, setChecking] = useState(false);

  // "Estimate cost": the LLM prompts rendered with this input, priced; refreshed while the input is edited.
  useEffect(() => {
    const timer = setTimeout(() => {
      void estimateRunCost(workflowId, value ?? {}).then((result) => setEstimate(result.ok ? result.estimate : undefined));
    }, 300);
    return () => clearTimeout(timer);
  }, [workflowId, value]);

  const editField = (path: FieldPath, next: unknown) => {
    setValue((current: unknown) => editInput(field!, current, path, next));
    setFieldErrors((current) => withoutStaleErrors(current, path));
    setOtherProblems([]);
  };

  const editJson = (next: unknown) => {
    setValue(next);
    setFieldErrors({});
    setOtherProblems([]);
  };

  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    // The server's checker (Ajv cannot compile schemas under the page's CSP). If the check itself fails, the run
    // is sent anyway: the server refuses bad input and says why (shown as run-error).
    let problems: Array<{ path: string[]; message: string }> = [];
    if (schema) {
      setChecking(true);
      const checked = await checkRunInput(schema, value).catch(() => undefined);
      setChecking(false);
      problems = checked?.ok ? checked.problems : [];
    }
    if (!problems.length) return onRun(value);
    const shown = new Set(mode === "form" && field ? formPaths(field, value) : []);
    const errors: Record<string, string> = {};
    const others: string[] = [];
    for (const problem of problems) {
      const key = pathKey(problem.path);
      if (shown.has(key) && !(field?.kind === "object" && key === "")) errors[key] ??= problem.message;
      else others.push(key ? `${key}: ${problem.message}` : `input ${problem.message}`);
    }
    setFieldErrors(errors);
    setOtherProblems(others);
  };

  return (
    <div className="fixed inset-0 z-50 grid place-items-center bg-black/30" role="dialog" aria-modal="true" data-testid="run-dialog">
      <form onSubmit={(e) => void submit(e)} noValidate className="max-h-[90vh] w-[520px] space-y-3 overflow-y-auto rounded-lg bg-white p-4 shadow-xl">
        <div className="flex items-center justify-between">
          <h2 className="text-sm font-semibold">Run input</h2>
          {formAvailable && (
            <button
              type="button"
              data-testid="input-mode-toggle"
              aria-pressed={mode === "json"}
              onClick={() => {
                setMode(mode === "form" ? "json" : "form");
                setFieldErrors({});
                setOtherProblems([]);
              }}
              className="rounded border border-neutral-300 px-2 py-0.5 text-xs text-neutral-600 hover:bg-neutral-50"
            >
              {mode === "form" ? "JSON" : "Form"}
            </button>
          )}
        </div>
        {mode === "form" && field ? (
          <InputForm field={field} value={value} errors={fieldErrors} onEdit={editField} />
        ) : (
          <>
            {!schema && <p className="text-xs text-neutral-500">This workflow declares no input schema: any JSON is passed as <code>input</code>.</p>}
            <JsonInput testId="input-json" value={value} onChange={editJson} rows={10} />
          </>
        )}
        {otherProblems.length > 0 && (
          <ul data-testid="input-problems" className="rounded bg-red-50 px-2 py-1 text-xs text-red-700">
            {otherProblems.map((problem) => (
              <li key={problem}>{problem}</li>
            ))}
          </ul>
        )}
        {estimate && estimate.calls > 0 && (
          <p data-testid="cost-estimate" className="rounded bg-neutral-50 px-2 py-1 text-xs text-neutral-600">
            Estimated cost ≈ <strong>{formatCost(estimate.costUsd)}</strong> · {estimate.calls} LLM call{estimate.calls === 1 ? "" : "s"} · ~{estimate.promptTokens} prompt + ~
            {estimate.completionTokens} completion tokens
            {estimate.unpricedModels.length > 0 && <> · no price for {estimate.unpricedModels.join(", ")}</>}
          </p>
        )}
        {error && <p data-testid="run-error" className="rounded bg-red-50 px-2 py-1 text-xs text-red-700 whitespace-pre-wrap">{error}</p>}
        <div className="flex justify-end gap-2">
          <button type="button" onClick={onClose} className="rounded px-3 py-1.5 text-sm text-neutral-600 hover:bg-neutral-100">Cancel</button>
          <button type="submit" data-testid="run-submit" disabled={busy || checking} className="rounded bg-blue-600 px-3 py-1.5 text-sm font-medium text-white hover:bg-blue-500 disabled:opacity-50">
            {busy ? "Starting…" : checking ? "Checking…" : "Run"}
          </button>
        </div>
      </form>
    </div>
  );
}
