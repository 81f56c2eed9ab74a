/** Signs in through Better Auth's endpoint (it sets the session cookie); the error text to show, or null. */
export async function signIn(email: string, password: string): Promise<string | null> {
  const response = await fetch("/api/auth/sign-in/email", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email, password }),
  }).catch(() => null);
  if (!response) return "The server did not answer: check that it is running.";
  if (response.ok) return null;
  if (response.status === 429) return "Too many attempts: wait a minute and try again.";
  if (response.status === 401) return "Wrong email or password.";
  const body = (await response.json().catch(() => null)) as { message?: string } | null;
  return body?.message ?? `Sign-in failed (${response.status}).`;
}

export async function signOut(): Promise<void> {
  await fetch("/api/auth/sign-out", { method: "POST", headers: { "content-type": "application/json" }, body: "{}" }).catch(() => undefined);
}
