"use client";

import { useEffect, useState } from "react";
import { estimateRunCost } from "@/app/workflows/actions";
import { formatCost } from "@/components/ui/status";
import type { CostEstimate } from "@/lib/workflow/estimate";
import { JsonInput } from "./fields";

interface PropertySchema {
  type?: string;
  description?: string;
  default?: unknown;
  enum?: unknown[];
}

/** Asks for the run input: a form from the input schema's top-level properties, or raw JSON. */
export function RunDialog({ workflowId, schema, onRun, onClose, busy, error }: {
  workflowId: string;
  schema: Record<string, unknown>;
  onRun(input: unknown): void;
  onClose(): void;
  busy: boolean;
  error?: string;
}) {
  const properties = (schema.properties ?? {}) as Record<string, PropertySchema>;
  const required = new Set((schema.required as string[] | undefined) ?? []);
  const simple = Object.values(properties).every((p) => ["string", "number", "integer", "boolean"].includes(p.type ?? ""));
  const [values, setValues] = useState<Record<string, unknown>>(() =>
    Object.fromEntries(Object.entries(properties).filter(([, p]) => p.default !== undefined).map(([k, p]) => [k, p.default])),
  );
  const [raw, setRaw] = useState<unknown>({});
  const [estimate, setEstimate] = useState<CostEstimate>();

  // "Estimate cost": the LLM prompts rendered with this input, priced; refreshed while the input is edited.
  const input = simple ? values : raw;
  useEffect(() => {
    const timer = setTimeout(() => {
      void estimateRunCost(workflowId, input).then((result) => setEstimate(result.ok ? result.estimate : undefined));
    }, 300);
    return () => clearTimeout(timer);
  }, [workflowId, input]);

  const submit = (event: React.FormEvent) => {
    event.preventDefault();
    onRun(simple ? values : raw);
  };

  return (
    <div className="fixed inset-0 z-50 grid place-items-center bg-black/30" role="dialog" aria-modal="true" data-testid="run-dialog">
      <form onSubmit={submit} className="w-[420px] space-y-3 rounded-lg bg-white p-4 shadow-xl">
        <h2 className="text-sm font-semibold">Run input</h2>
        {simple ? (
          Object.entries(properties).map(([name, p]) => (
            <label key={name} className="block">
              <span className="mb-1 block text-xs font-medium text-neutral-600">
                {name}
                {required.has(name) && <span className="text-red-600"> *</span>}
                {p.description && <span className="font-normal text-neutral-400"> — {p.description}</span>}
              </span>
              {p.type === "boolean" ? (
                <input data-testid={`input-${name}`} type="checkbox" checked={Boolean(values[name])} onChange={(e) => setValues({ ...values, [name]: e.target.checked })} />
              ) : (
                <input
                  data-testid={`input-${name}`}
                  required={required.has(name)}
                  type={p.type === "string" ? "text" : "number"}
                  step="any"
                  className="w-full rounded border border-neutral-300 px-2 py-1 text-sm"
                  value={values[name] === undefined ? "" : String(values[name])}
                  onChange={(e) => {
                    const next = { ...values };
                    if (e.target.value === "") delete next[name];
                    else next[name] = p.type === "string" ? e.target.value : Number(e.target.value);
                    setValues(next);
                  }}
                />
              )}
            </label>
          ))
        ) : (
          <JsonInput testId="input-json" value={raw} onChange={setRaw} rows={8} />
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
          <button type="submit" data-testid="run-submit" disabled={busy} className="rounded bg-blue-600 px-3 py-1.5 text-sm font-medium text-white hover:bg-blue-500 disabled:opacity-50">
            {busy ? "Starting…" : "Run"}
          </button>
        </div>
      </form>
    </div>
  );
}
