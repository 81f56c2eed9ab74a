"use client";

import { useState, type ReactNode } from "react";

/**
 * The sign-in and setup forms' frame: runs `submit` (the problem to show, or null), then loads `done` in full so
 * every server component reads the new session.
 */
export function AuthForm(props: { submit: () => Promise<string | null>; done: string; testId: string; label: string; busyLabel: string; children: ReactNode }) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <form
      className="space-y-3"
      onSubmit={async (event) => {
        event.preventDefault();
        setBusy(true);
        const problem = await props.submit();
        setBusy(false);
        if (problem) return setError(problem);
        window.location.assign(props.done);
      }}
    >
      {props.children}
      {error && <p data-testid={`${props.testId}-error`} role="alert" className="text-sm text-red-600">{error}</p>}
      <button type="submit" disabled={busy} data-testid={`${props.testId}-submit`} className="w-full rounded bg-neutral-900 px-3 py-1.5 text-sm font-medium text-white hover:bg-neutral-700 disabled:opacity-50">
        {busy ? props.busyLabel : props.label}
      </button>
    </form>
  );
}

export function Field(props: { label: string; type: string; value: string; onChange: (value: string) => void; testId: string; autoComplete?: string; required?: boolean }) {
  return (
    <label className="block">
      <span className="mb-1 block text-xs font-medium text-neutral-600">{props.label}</span>
      <input
        type={props.type}
        value={props.value}
        required={props.required ?? true}
        autoComplete={props.autoComplete}
        data-testid={props.testId}
        onChange={(e) => props.onChange(e.target.value)}
        className="w-full rounded border border-neutral-300 px-2 py-1.5 text-sm"
      />
    </label>
  );
}
