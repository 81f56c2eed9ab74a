"use client";

import { useState } from "react";
import { signIn } from "./sign-in";

export function SignInForm({ next }: { next: string }) {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <form
      className="space-y-3"
      onSubmit={async (event) => {
        event.preventDefault();
        setBusy(true);
        const problem = await signIn(email, password);
        setBusy(false);
        if (problem) return setError(problem);
        window.location.assign(next); // a full load: every server component reads the new session
      }}
    >
      <Field label="Email" type="email" value={email} onChange={setEmail} testId="sign-in-email" autoComplete="username" />
      <Field label="Password" type="password" value={password} onChange={setPassword} testId="sign-in-password" autoComplete="current-password" />
      {error && <p data-testid="sign-in-error" role="alert" className="text-sm text-red-600">{error}</p>}
      <button type="submit" disabled={busy} data-testid="sign-in-submit" className="w-full rounded bg-neutral-900 px-3 py-1.5 text-sm font-medium text-white hover:bg-neutral-700 disabled:opacity-50">
        {busy ? "Signing in…" : "Sign in"}
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
