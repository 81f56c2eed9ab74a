"use client";

import { useState } from "react";
import { setUpOwner } from "@/app/sign-in/actions";
import { signIn } from "./sign-in";
import { Field } from "./SignInForm";

export function SetupForm() {
  const [email, setEmail] = useState("");
  const [name, setName] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <form
      className="space-y-3"
      onSubmit={async (event) => {
        event.preventDefault();
        setBusy(true);
        const result = await setUpOwner({ email, name, password });
        const problem = result.ok ? await signIn(email, password) : result.message;
        setBusy(false);
        if (problem) return setError(problem);
        window.location.assign("/");
      }}
    >
      <Field label="Email" type="email" value={email} onChange={setEmail} testId="setup-email" autoComplete="username" />
      <Field label="Name" type="text" value={name} onChange={setName} testId="setup-name" required={false} autoComplete="name" />
      <Field label="Password (at least 8 characters)" type="password" value={password} onChange={setPassword} testId="setup-password" autoComplete="new-password" />
      {error && <p data-testid="setup-error" role="alert" className="text-sm text-red-600">{error}</p>}
      <button type="submit" disabled={busy} data-testid="setup-submit" className="w-full rounded bg-neutral-900 px-3 py-1.5 text-sm font-medium text-white hover:bg-neutral-700 disabled:opacity-50">
        {busy ? "Setting up…" : "Create the owner and sign in"}
      </button>
    </form>
  );
}
