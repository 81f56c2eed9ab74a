"use client";

import { useState, useTransition } from "react";
import { saveGateway } from "@/app/settings/actions";

/** The API key is write-only: the browser is only told whether one is set. */
export function GatewayForm({ initialUrl, hasApiKey }: { initialUrl: string; hasApiKey: boolean }) {
  const [url, setUrl] = useState(initialUrl);
  const [key, setKey] = useState("");
  const [message, setMessage] = useState<{ ok: boolean; text: string }>();
  const [pending, start] = useTransition();
  return (
    <form
      className="space-y-3 rounded border border-neutral-200 bg-white p-4"
      onSubmit={(e) => {
        e.preventDefault();
        start(async () => {
          const result = await saveGateway({ llmGatewayUrl: url, llmApiKey: key || undefined });
          setMessage(result.ok ? { ok: true, text: "Saved" } : { ok: false, text: result.message });
          if (result.ok) setKey("");
        });
      }}
    >
      <label className="block">
        <span className="mb-1 block text-xs font-medium text-neutral-600">Gateway base URL</span>
        <input data-testid="gateway-url" className="w-full rounded border border-neutral-300 px-2 py-1 text-sm" value={url} placeholder="http://127.0.0.1:4000/v1" onChange={(e) => setUrl(e.target.value)} />
      </label>
      <label className="block">
        <span className="mb-1 block text-xs font-medium text-neutral-600">API key {hasApiKey && <span className="font-normal text-emerald-700">(a key is set; leave empty to keep it)</span>}</span>
        <input data-testid="gateway-key" type="password" autoComplete="off" className="w-full rounded border border-neutral-300 px-2 py-1 text-sm" value={key} onChange={(e) => setKey(e.target.value)} />
      </label>
      <div className="flex items-center gap-3">
        <button type="submit" disabled={pending} data-testid="gateway-save" className="rounded bg-neutral-900 px-3 py-1.5 text-sm font-medium text-white disabled:opacity-50">Save</button>
        {message && <span data-testid="gateway-message" className={`text-sm ${message.ok ? "text-emerald-700" : "text-red-600"}`}>{message.text}</span>}
      </div>
    </form>
  );
}
