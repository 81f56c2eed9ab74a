"use client";

import { useEffect, useState, useTransition } from "react";
import { disableWebhook, enableWebhook, setWebhookWaitTimeout, webhookStatus } from "@/app/workflows/actions";
import { signedCurlExample } from "@/lib/webhooks/curl-example";

interface Created {
  url: string;
  signedUrl: string;
  secret: string;
}

/**
 * The workflow's webhook trigger: enable it to get a URL with a token (and an HMAC secret for signed calls),
 * both shown once with a shell snippet that signs a request; rotate or disable later. A POSTed JSON body becomes
 * the run input. Without `canChange` (view only): its state alone.
 */
export function WebhookPanel({ workflowId, saved, canChange = true }: { workflowId: string; saved: boolean; canChange?: boolean }) {
  const [enabled, setEnabled] = useState<boolean>();
  const [waitMs, setWaitMs] = useState<string>("30000");
  const [created, setCreated] = useState<Created>();
  const [error, setError] = useState<string>();
  const [pending, start] = useTransition();

  useEffect(() => {
    if (!saved) return;
    void webhookStatus(workflowId).then((result) => {
      if (!result.ok) return setError(result.message);
      setEnabled(Boolean(result.hook?.enabled));
      if (result.hook) setWaitMs(String(result.hook.waitTimeoutMs));
    });
  }, [workflowId, saved]);

  if (!saved) return <p className="text-[11px] text-neutral-500">Save the workflow to enable its webhook trigger.</p>;
  const enable = () =>
    start(async () => {
      const result = await enableWebhook(workflowId);
      if (!result.ok) return setError(result.message);
      setError(undefined);
      setEnabled(true);
      setCreated({ url: result.url, signedUrl: result.signedUrl, secret: result.secret });
    });
  const disable = () =>
    start(async () => {
      const result = await disableWebhook(workflowId);
      if (!result.ok) return setError(result.message);
      setEnabled(false);
      setCreated(undefined);
    });

  return (
    <div data-testid="webhook-panel" className="space-y-2 text-xs">
      <p className="text-neutral-600">
        Webhook trigger: <strong data-testid="webhook-state">{enabled === undefined ? "…" : enabled ? "enabled" : "off"}</strong>
      </p>
      {created && (
        <div className="space-y-1 rounded border border-amber-200 bg-amber-50 p-2">
          <p className="text-amber-900">Copy these now; they are not shown again.</p>
          <p>URL (token in the path):</p>
          <code data-testid="webhook-url" className="block break-all font-mono text-[11px]">{created.url}</code>
          <p>
            Or POST to <code className="break-all font-mono text-[11px]">{created.signedUrl}</code> signed with the secret: headers{" "}
            <code>X-Orchestrator-Timestamp: &lt;unix seconds&gt;</code> and <code>X-Orchestrator-Signature: sha256=&lt;HMAC-SHA256 of &quot;&lt;timestamp&gt;.&lt;body&gt;&quot;&gt;</code>.
            A request is accepted within 5 minutes of its timestamp, once.
          </p>
          <code data-testid="webhook-secret" className="block break-all font-mono text-[11px]">{created.secret}</code>
          <pre data-testid="webhook-curl" className="overflow-x-auto whitespace-pre rounded bg-white p-1 font-mono text-[10px] leading-snug">
            {signedCurlExample(created.signedUrl, created.secret)}
          </pre>
          <p className="text-neutral-600">
            Add <code>?wait=true</code> to get the run&apos;s outputs in the answer, and an <code>Idempotency-Key</code> header (up to 200 characters) so a retry
            returns the first run instead of starting another.
          </p>
        </div>
      )}
      {canChange && (
        <div className="flex gap-2">
          <button type="button" data-testid="webhook-enable" disabled={pending} onClick={enable} className="rounded border border-neutral-300 px-2 py-0.5 font-medium hover:bg-neutral-50 disabled:opacity-50">
            {enabled ? "Rotate token and secret" : "Enable webhook"}
          </button>
          {enabled && (
            <button type="button" data-testid="webhook-disable" disabled={pending} onClick={disable} className="rounded border border-red-300 px-2 py-0.5 font-medium text-red-700 hover:bg-red-50 disabled:opacity-50">
              Disable
            </button>
          )}
        </div>
      )}
      {enabled && canChange && (
        <label className="flex items-center gap-2 text-neutral-600">
          <span>?wait=true waits up to</span>
          <input
            data-testid="webhook-wait"
            type="number"
            min={100}
            className="w-24 rounded border border-neutral-300 px-1 py-0.5"
            value={waitMs}
            onChange={(e) => setWaitMs(e.target.value)}
            onBlur={() =>
              start(async () => {
                const result = await setWebhookWaitTimeout(workflowId, Number(waitMs));
                setError(result.ok ? undefined : result.message);
              })
            }
          />
          <span>ms</span>
        </label>
      )}
      {error && <p className="text-red-700">{error}</p>}
    </div>
  );
}
