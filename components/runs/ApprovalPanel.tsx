"use client";

import { useRouter } from "next/navigation";
import { useState, useTransition } from "react";
import { decideApproval } from "@/app/runs/actions";

interface JsonSchemaField {
  type?: string;
  title?: string;
  description?: string;
  enum?: unknown[];
  default?: unknown;
}

export interface ApprovalRequestView {
  message: string;
  form: { type?: string; properties?: Record<string, JsonSchemaField>; required?: string[] } | null;
}

/**
 * The pending approval of a waiting run: the step's message, the approver's form (generated from its JSON
 * Schema: text, number, checkbox and choice fields; anything else as JSON), a comment, approve and reject.
 */
export function ApprovalPanel({ runId, stepId, request }: { runId: string; stepId: string; request: ApprovalRequestView }) {
  const router = useRouter();
  const [pending, start] = useTransition();
  const [error, setError] = useState<string>();
  const properties = request.form?.properties ?? {};
  const simple = request.form && Object.keys(properties).length > 0;
  const [values, setValues] = useState<Record<string, unknown>>(() =>
    Object.fromEntries(Object.entries(properties).map(([name, field]) => [name, field.default ?? (field.type === "boolean" ? false : "")])),
  );
  const [rawJson, setRawJson] = useState("{}");
  const [comment, setComment] = useState("");

  const formData = (): unknown => {
    if (!request.form) return undefined;
    if (!simple) return JSON.parse(rawJson);
    const data: Record<string, unknown> = {};
    for (const [name, field] of Object.entries(properties)) {
      const value = values[name];
      if (value === "") continue; // an empty field is a missing value: the server names required ones
      data[name] = (field.type === "number" || field.type === "integer") && value !== "" ? Number(value) : value;
    }
    return data;
  };

  const decide = (approved: boolean) =>
    start(async () => {
      let data: unknown;
      try {
        data = approved ? formData() : undefined;
      } catch {
        setError("The form data is not valid JSON.");
        return;
      }
      const result = await decideApproval(runId, { approved, data, comment: comment || undefined });
      if (!result.ok) return setError(result.message);
      setError(undefined);
      router.refresh();
    });

  return (
    <section data-testid="approval-panel" className="mb-4 rounded border border-rose-300 bg-rose-50 p-3">
      <h2 className="mb-1 text-sm font-semibold text-rose-900">
        Waiting for approval at step <code>{stepId}</code>
      </h2>
      <p data-testid="approval-message" className="mb-3 whitespace-pre-wrap text-sm">{request.message}</p>
      {simple &&
        Object.entries(properties).map(([name, field]) => {
          const label = `${field.title ?? name}${request.form?.required?.includes(name) ? " *" : ""}`;
          const common = { id: `approval-${name}`, "data-testid": `approval-field-${name}`, className: "w-full rounded border border-neutral-300 bg-white px-2 py-1 text-sm" };
          return (
            <label key={name} htmlFor={common.id} className="mb-2 block text-xs font-medium text-neutral-700">
              {label}
              {field.enum ? (
                <select {...common} value={String(values[name] ?? "")} onChange={(e) => setValues({ ...values, [name]: e.target.value })}>
                  <option value="">—</option>
                  {field.enum.map((option) => (
                    <option key={String(option)} value={String(option)}>{String(option)}</option>
                  ))}
                </select>
              ) : field.type === "boolean" ? (
                <input {...common} type="checkbox" className="ml-2" checked={Boolean(values[name])} onChange={(e) => setValues({ ...values, [name]: e.target.checked })} />
              ) : (
                <input
                  {...common}
                  type={field.type === "number" || field.type === "integer" ? "number" : "text"}
                  value={String(values[name] ?? "")}
                  onChange={(e) => setValues({ ...values, [name]: e.target.value })}
                />
              )}
              {field.description && <span className="mt-0.5 block font-normal text-neutral-500">{field.description}</span>}
            </label>
          );
        })}
      {request.form && !simple && (
        <label className="mb-2 block text-xs font-medium text-neutral-700">
          Data (JSON matching the form schema)
          <textarea data-testid="approval-json" value={rawJson} onChange={(e) => setRawJson(e.target.value)} rows={4} className="w-full rounded border border-neutral-300 bg-white px-2 py-1 font-mono text-xs" />
        </label>
      )}
      <label className="mb-3 block text-xs font-medium text-neutral-700">
        Comment (optional)
        <textarea data-testid="approval-comment" value={comment} onChange={(e) => setComment(e.target.value)} rows={2} className="w-full rounded border border-neutral-300 bg-white px-2 py-1 text-sm" />
      </label>
      <div className="flex items-center gap-2">
        <button type="button" data-testid="approve" disabled={pending} onClick={() => decide(true)} className="rounded bg-emerald-600 px-3 py-1 text-sm font-medium text-white hover:bg-emerald-700 disabled:opacity-50">
          Approve
        </button>
        <button type="button" data-testid="reject" disabled={pending} onClick={() => decide(false)} className="rounded border border-red-300 bg-white px-3 py-1 text-sm font-medium text-red-700 hover:bg-red-50 disabled:opacity-50">
          Reject
        </button>
        {pending && <span className="text-xs text-neutral-500">Sending…</span>}
      </div>
      {error && <p data-testid="approval-error" className="mt-2 text-xs text-red-700">{error}</p>}
    </section>
  );
}
