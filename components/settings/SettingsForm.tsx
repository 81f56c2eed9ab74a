"use client";

import { useState, useTransition, type ReactNode } from "react";

/** `note`: what else saving did, shown instead of "Saved". */
type SaveResult = { ok: true; note?: string } | { ok: false; message: string };

/** A settings section: its fields, Save, and the outcome ("Saved" or the server's message naming the field). */
export function SettingsForm({ save, onSaved, testId, inline, actions, children }: {
  save(): Promise<SaveResult>;
  onSaved?(): void;
  /** Prefix of the Save button's and message's test ids. */
  testId: string;
  /** Fields and button on one row. */
  inline?: boolean;
  /** More buttons beside Save. */
  actions?: ReactNode;
  children: ReactNode;
}) {
  const [message, setMessage] = useState<{ ok: boolean; text: string }>();
  const [pending, start] = useTransition();
  return (
    <form
      className={inline ? "mt-3 flex items-end gap-3 rounded border border-neutral-200 bg-white p-4" : "space-y-3 rounded border border-neutral-200 bg-white p-4"}
      onSubmit={(e) => {
        e.preventDefault();
        start(async () => {
          const result = await save();
          setMessage(result.ok ? { ok: true, text: result.note ?? "Saved" } : { ok: false, text: result.message });
          if (result.ok) onSaved?.();
        });
      }}
    >
      {children}
      <div className="flex items-center gap-3">
        <button type="submit" disabled={pending} data-testid={`${testId}-save`} className="rounded bg-neutral-900 px-3 py-1.5 text-sm font-medium text-white disabled:opacity-50">
          Save
        </button>
        {actions}
        {message && <span data-testid={`${testId}-message`} className={`text-sm ${message.ok ? "text-emerald-700" : "text-red-600"}`}>{message.text}</span>}
      </div>
    </form>
  );
}
