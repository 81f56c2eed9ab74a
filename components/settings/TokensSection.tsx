"use client";

import { useRouter } from "next/navigation";
import { useState, useTransition } from "react";
import { createApiToken, revokeApiToken } from "@/app/settings/actions";

export interface TokenRow {
  id: string;
  name: string;
  email: string;
  createdAt: string;
  lastUsedAt: string | null;
}

/**
 * API tokens (`Authorization: Bearer <token>` for the API and the remote CLI; they act as their user, with the
 * user's current role). A new token is shown once, here, right after it is made: only its hash is stored.
 * `everyone`: an admin's list, with each token's user.
 */
export function TokensSection({ tokens, everyone }: { tokens: TokenRow[]; everyone: boolean }) {
  const router = useRouter();
  const [name, setName] = useState("");
  const [created, setCreated] = useState<{ name: string; token: string }>();
  const [copied, setCopied] = useState(false);
  const [message, setMessage] = useState<string>();
  const [pending, start] = useTransition();

  const create = () =>
    start(async () => {
      const result = await createApiToken(name);
      if (!result.ok) return setMessage(result.message);
      setMessage(undefined);
      setCopied(false);
      setCreated({ name: result.created.name, token: result.created.token });
      setName("");
      router.refresh();
    });
  const revoke = (token: TokenRow) => {
    if (!window.confirm(`Revoke the token "${token.name}"? Programs using it are refused from now on.`)) return;
    start(async () => {
      const result = await revokeApiToken(token.id);
      if (!result.ok) return setMessage(result.message);
      setMessage(undefined);
      router.refresh();
    });
  };
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(created!.token);
      setCopied(true);
    } catch {
      setMessage("The browser did not allow copying: select the token and copy it.");
    }
  };

  return (
    <div className="space-y-3" data-testid="tokens">
      <form
        className="flex items-end gap-3 rounded border border-neutral-200 bg-white p-4"
        onSubmit={(e) => {
          e.preventDefault();
          create();
        }}
      >
        <label className="block flex-1">
          <span className="mb-1 block text-xs font-medium text-neutral-600">New token&apos;s name (what uses it, e.g. &quot;CI&quot;)</span>
          <input data-testid="token-name" value={name} maxLength={100} onChange={(e) => setName(e.target.value)} className="w-full rounded border border-neutral-300 px-2 py-1 text-sm" />
        </label>
        <button type="submit" data-testid="token-create" disabled={pending} className="rounded bg-neutral-900 px-3 py-1.5 text-sm font-medium text-white disabled:opacity-50">
          Create token
        </button>
      </form>
      {message && <p data-testid="token-message" role="alert" className="text-sm text-red-600">{message}</p>}
      {created && (
        <div data-testid="token-created" className="space-y-2 rounded border border-amber-300 bg-amber-50 p-3 text-sm">
          <p className="font-medium text-amber-900">Copy the token &quot;{created.name}&quot; now: it is not shown again.</p>
          <div className="flex items-center gap-2">
            <code data-testid="token-value" className="min-w-0 flex-1 break-all rounded bg-white px-2 py-1 font-mono text-xs">{created.token}</code>
            <button type="button" data-testid="token-copy" onClick={() => void copy()} className="shrink-0 rounded border border-neutral-300 bg-white px-2 py-1 text-xs font-medium hover:bg-neutral-50">
              {copied ? "Copied" : "Copy"}
            </button>
          </div>
          <p className="text-xs text-neutral-600">
            Send it as <code className="font-mono">Authorization: Bearer &lt;token&gt;</code>. It acts as you, with your role; revoke it when it is no longer used.
          </p>
          <button type="button" data-testid="token-created-dismiss" onClick={() => setCreated(undefined)} className="text-xs text-neutral-600 underline">
            I have copied it
          </button>
        </div>
      )}
      {tokens.length === 0 ? (
        <p className="text-sm text-neutral-500" data-testid="tokens-empty">No API tokens.</p>
      ) : (
        <table className="w-full overflow-hidden rounded border border-neutral-200 bg-white text-sm" data-testid="tokens-table">
          <thead className="bg-neutral-50 text-left text-xs text-neutral-500">
            <tr>
              <th className="px-3 py-2 font-medium">Name</th>
              {everyone && <th className="px-3 py-2 font-medium">User</th>}
              <th className="px-3 py-2 font-medium">Created</th>
              <th className="px-3 py-2 font-medium">Last used</th>
              <th className="px-3 py-2" />
            </tr>
          </thead>
          {/* Times in the browser's locale and zone (the server renders them in its own: no hydration warning). */}
          <tbody>
            {tokens.map((token) => (
              <tr key={token.id} className="border-t border-neutral-100" data-testid="token-row" data-token-name={token.name}>
                <td className="px-3 py-2 font-medium">{token.name}</td>
                {everyone && <td className="px-3 py-2 text-neutral-600" data-testid="token-user">{token.email}</td>}
                <td className="px-3 py-2 text-neutral-500" suppressHydrationWarning>{new Date(token.createdAt).toLocaleString()}</td>
                <td className="px-3 py-2 text-neutral-500" data-testid="token-last-used" suppressHydrationWarning>{token.lastUsedAt ? new Date(token.lastUsedAt).toLocaleString() : "never"}</td>
                <td className="px-3 py-2 text-right">
                  <button type="button" data-testid="token-revoke" disabled={pending} onClick={() => revoke(token)} className="text-xs text-red-700 hover:underline disabled:opacity-50">
                    Revoke
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
