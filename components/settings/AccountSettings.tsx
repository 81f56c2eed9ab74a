import type { Actor } from "@/lib/auth/roles";

/** What users below admin see under Settings: who they are (their API tokens are added here). */
export function AccountSettings({ actor }: { actor: Actor }) {
  return (
    <div className="mx-auto max-w-xl p-6">
      <h1 className="mb-1 text-lg font-semibold">Account</h1>
      <p className="mb-4 text-sm text-neutral-500" data-testid="account-summary">
        Signed in as {actor.email} ({actor.role}). Settings of the server are changed by admins.
      </p>
    </div>
  );
}
