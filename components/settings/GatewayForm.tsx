"use client";

import { useState } from "react";
import { saveGateway } from "@/app/settings/actions";
import { SettingsForm } from "./SettingsForm";

/** The API key is write-only: the browser is only told whether one is set. */
export function GatewayForm({ initialUrl, hasApiKey }: { initialUrl: string; hasApiKey: boolean }) {
  const [url, setUrl] = useState(initialUrl);
  const [key, setKey] = useState("");
  return (
    <SettingsForm testId="gateway" save={() => saveGateway({ llmGatewayUrl: url, llmApiKey: key || undefined })} onSaved={() => setKey("")}>
      <label className="block">
        <span className="mb-1 block text-xs font-medium text-neutral-600">Gateway base URL</span>
        <input data-testid="gateway-url" className="w-full rounded border border-neutral-300 px-2 py-1 text-sm" value={url} placeholder="http://127.0.0.1:4000/v1" onChange={(e) => setUrl(e.target.value)} />
      </label>
      <label className="block">
        <span className="mb-1 block text-xs font-medium text-neutral-600">API key {hasApiKey && <span className="font-normal text-emerald-700">(a key is set; leave empty to keep it)</span>}</span>
        <input data-testid="gateway-key" type="password" autoComplete="off" className="w-full rounded border border-neutral-300 px-2 py-1 text-sm" value={key} onChange={(e) => setKey(e.target.value)} />
      </label>
    </SettingsForm>
  );
}
