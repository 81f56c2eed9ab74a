import type { Actor } from "@/lib/auth/roles";
import { TokensSection, type TokenRow } from "./TokensSection";

/** What users below admin see under Settings: who they are and their API tokens. */
export function AccountSettings({ actor, tokens }: { actor: Actor; tokens: TokenRow[] }) {
  return (
    <div className="mx-auto max-w-xl p-6">
      <h1 className="mb-1 text-lg font-semibold">Account</h1>
      <p className="mb-4 text-sm text-neutral-500" data-testid="account-summary">
        Signed in as {actor.email} ({actor.role}). Settings of the server are changed by admins.
      </p>
      <h2 className="mb-1 mt-8 text-base font-semibold" id="tokens">API tokens</h2>
      <p className="mb-4 text-sm text-neutral-500">For programs that call the API or the CLI against this server as you.</p>
      <TokensSection tokens={tokens} everyone={false} />
    </div>
  );
}
