"use client";

import { signOut } from "./sign-in";

/** The signed-in user in the header, with sign-out. */
export function UserMenu({ email, role }: { email: string; role: string }) {
  return (
    <div className="ml-auto flex items-center gap-3 text-sm text-neutral-600">
      <span data-testid="current-user" title={`signed in as ${email} (${role})`}>
        {email} <span className="rounded bg-neutral-100 px-1.5 py-0.5 text-xs text-neutral-500">{role}</span>
      </span>
      <button
        type="button"
        data-testid="sign-out"
        className="rounded border border-neutral-300 px-2 py-0.5 text-xs hover:bg-neutral-50"
        onClick={async () => {
          await signOut();
          window.location.assign("/sign-in");
        }}
      >
        Sign out
      </button>
    </div>
  );
}
