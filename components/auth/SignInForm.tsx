"use client";

import { useState } from "react";
import { AuthForm, Field } from "./AuthForm";
import { signIn } from "./sign-in";

export function SignInForm({ next }: { next: string }) {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  return (
    <AuthForm testId="sign-in" label="Sign in" busyLabel="Signing in…" done={next} submit={() => signIn(email, password)}>
      <Field label="Email" type="email" value={email} onChange={setEmail} testId="sign-in-email" autoComplete="username" />
      <Field label="Password" type="password" value={password} onChange={setPassword} testId="sign-in-password" autoComplete="current-password" />
    </AuthForm>
  );
}
