"use client";

import { useEffect, useState, useTransition } from "react";
import { shareWorkflow, workflowShares } from "@/app/workflows/actions";
import type { Access } from "@/lib/auth/roles";

interface Share {
  id: string;
  email: string;
  name: string;
  role: string;
  permission: Access;
}

const PERMISSION_LABEL: Record<Access, string> = { edit: "can edit and run", view: "can view" };

/**
 * The workflow's sharing (its owner and admins): who it is shared with and how; add a user by email, change or
 * remove a share. A user whose role is viewer only ever views, whatever the share says.
 */
export function ShareDialog({ workflowId, onClose }: { workflowId: string; onClose(): void }) {
  const [shares, setShares] = useState<Share[]>();
  const [email, setEmail] = useState("");
  const [permission, setPermission] = useState<Access>("view");
  const [error, setError] = useState<string>();
  const [pending, start] = useTransition();

  useEffect(() => {
    void workflowShares(workflowId).then((result) => (result.ok ? setShares(result.shares) : setError(result.message)));
  }, [workflowId]);

  const change = (target: string, next: Access | null, after?: () => void) =>
    start(async () => {
      const result = await shareWorkflow(workflowId, target, next);
      if (!result.ok) return setError(result.message);
      setError(undefined);
      setShares(result.shares);
      after?.();
    });

  return (
    <div className="fixed inset-0 z-50 grid place-items-center bg-black/30" role="dialog" aria-modal="true" aria-labelledby="share-title" data-testid="share-dialog">
      <div className="w-[480px] space-y-3 rounded-lg bg-white p-4 shadow-xl">
        <div className="flex items-center justify-between">
          <h2 id="share-title" className="text-sm font-semibold">Share this workflow</h2>
          <button type="button" data-testid="share-close" onClick={onClose} aria-label="Close" className="rounded px-2 text-neutral-500 hover:bg-neutral-100">
            ×
          </button>
        </div>
        {!shares ? (
          <p className="text-xs text-neutral-500">{error ? "" : "Loading…"}</p>
        ) : shares.length === 0 ? (
          <p className="text-xs text-neutral-500" data-testid="share-none">Only you (and admins) can see it.</p>
        ) : (
          <ul className="divide-y divide-neutral-100 rounded border border-neutral-200 text-sm">
            {shares.map((share) => (
              <li key={share.id} data-testid={`share-row-${share.email}`} className="flex items-center gap-2 px-2 py-1.5">
                <span className="min-w-0 flex-1 truncate" title={share.email}>
                  {share.name || share.email} <span className="text-xs text-neutral-500">{share.email}</span>
                  {share.role === "viewer" && share.permission === "edit" && (
                    <span className="block text-[11px] text-amber-700">their role is viewer: they can only view</span>
                  )}
                </span>
                <select
                  data-testid="share-permission"
                  aria-label={`access of ${share.email}`}
                  value={share.permission}
                  disabled={pending}
                  onChange={(e) => change(share.email, e.target.value as Access)}
                  className="rounded border border-neutral-300 bg-white px-1 py-0.5 text-xs"
                >
                  <option value="edit">{PERMISSION_LABEL.edit}</option>
                  <option value="view">{PERMISSION_LABEL.view}</option>
                </select>
                <button type="button" data-testid="share-remove" disabled={pending} onClick={() => change(share.email, null)} className="text-xs text-red-700 hover:underline disabled:opacity-50">
                  Remove
                </button>
              </li>
            ))}
          </ul>
        )}
        <form
          className="flex items-end gap-2"
          onSubmit={(e) => {
            e.preventDefault();
            change(email, permission, () => setEmail(""));
          }}
        >
          <label className="block flex-1 text-xs font-medium text-neutral-600">
            Add a user by email
            <input
              data-testid="share-email"
              type="email"
              value={email}
              maxLength={254}
              onChange={(e) => setEmail(e.target.value)}
              placeholder="ada@example.com"
              className="mt-1 w-full rounded border border-neutral-300 px-2 py-1 text-sm font-normal"
            />
          </label>
          <select
            data-testid="share-new-permission"
            aria-label="access to give"
            value={permission}
            onChange={(e) => setPermission(e.target.value as Access)}
            className="rounded border border-neutral-300 bg-white px-1 py-1 text-sm"
          >
            <option value="view">{PERMISSION_LABEL.view}</option>
            <option value="edit">{PERMISSION_LABEL.edit}</option>
          </select>
          <button type="submit" data-testid="share-add" disabled={pending || !email.trim()} className="rounded bg-neutral-900 px-3 py-1 text-sm font-medium text-white disabled:opacity-50">
            Share
          </button>
        </form>
        {error && (
          <p data-testid="share-error" role="alert" className="rounded bg-red-50 px-2 py-1 text-xs text-red-700">
            {error}
          </p>
        )}
      </div>
    </div>
  );
}
