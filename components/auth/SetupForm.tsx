"use client";

import { useState } from "react";
import { setUpOwner } from "@/app/sign-in/actions";
import { AuthForm, Field } from "./AuthForm";
import { signIn } from "./sign-in";

export function SetupForm() {
  const [email, setEmail] = useState("");
  const [name, setName] = useState("");
  const [password, setPassword] = useState("");
  const submit = async () => {
    const result = await setUpOwner({ email, name, password });
    return result.ok ? signIn(email, password) : result.message;
  };
  return (
    <AuthForm testId="setup" label="Create the owner and sign in" busyLabel="Setting up…" done="/" submit={submit}>
      <Field label="Email" type="email" value={email} onChange={setEmail} testId="setup-email" autoComplete="username" />
      <Field label="Name" type="text" value={name} onChange={setName} testId="setup-name" required={false} autoComplete="name" />
      <Field label="Password (at least 8 characters)" type="password" value={password} onChange={setPassword} testId="setup-password" autoComplete="new-password" />
    </AuthForm>
  );
}
