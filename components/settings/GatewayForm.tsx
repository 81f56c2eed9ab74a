"use client";

import { useState, useTransition } from "react";
import { saveGateway, testGateway } from "@/app/settings/actions";
import { SettingsForm } from "./SettingsForm";

type TestOutcome = { ok: true; url: string; models: string[] } | { ok: false; message: string };

/**
 * The API key is write-only: the browser is only told whether one is set. "Test connection" asks the gateway in
 * the form for its models (with the key typed here, else the stored one) and reports them to `onModels`.
 */
export function GatewayForm({ initialUrl, hasApiKey, onModels }: { initialUrl: string; hasApiKey: boolean; onModels?(models: string[]): void }) {
  const [url, setUrl] = useState(initialUrl);
  const [key, setKey] = useState("");
  const [outcome, setOutcome] = useState<TestOutcome>();
  const [testing, startTest] = useTransition();
  const test = () =>
    startTest(async () => {
      setOutcome(undefined);
      const result = await testGateway({ llmGatewayUrl: url, llmApiKey: key || undefined });
      const probe = result.ok ? result.probe : undefined;
      if (!result.ok) setOutcome({ ok: false, message: result.message });
      else if (!probe!.ok) setOutcome({ ok: false, message: probe!.message });
      else {
        setOutcome({ ok: true, url: probe!.url, models: probe!.models });
        onModels?.(probe!.models);
      }
    });
  const save = async () => {
    const result = await saveGateway({ llmGatewayUrl: url, llmApiKey: key || undefined });
    return result.ok && result.keyCleared ? { ok: true as const, note: "Saved. The stored API key was removed (it belonged to the old URL): enter the key for this gateway." } : result;
  };
  const testButton = (
    <button type="button" onClick={test} disabled={testing} data-testid="test-connection" className="rounded border border-neutral-300 px-3 py-1.5 text-sm font-medium disabled:opacity-50">
      {testing ? "Testing…" : "Test connection"}
    </button>
  );
  return (
    <SettingsForm testId="gateway" save={save} onSaved={() => setKey("")} actions={testButton}>
      <label className="block">
        <span className="mb-1 block text-xs font-medium text-neutral-600">Gateway base URL</span>
        <input data-testid="gateway-url" className="w-full rounded border border-neutral-300 px-2 py-1 text-sm" value={url} placeholder="http://127.0.0.1:4000/v1" onChange={(e) => setUrl(e.target.value)} />
        {hasApiKey && (
          <span data-testid="gateway-url-note" className="mt-1 block text-xs text-neutral-500">
            The stored API key belongs to this URL: saving another URL removes it unless you enter a key with it.
          </span>
        )}
      </label>
      <label className="block">
        <span className="mb-1 block text-xs font-medium text-neutral-600">API key {hasApiKey && <span className="font-normal text-emerald-700">(a key is set; leave empty to keep it)</span>}</span>
        <input data-testid="gateway-key" type="password" autoComplete="off" className="w-full rounded border border-neutral-300 px-2 py-1 text-sm" value={key} onChange={(e) => setKey(e.target.value)} />
      </label>
      {outcome &&
        (outcome.ok ? (
          <div data-testid="test-connection-result" data-ok="true" className="rounded border border-emerald-200 bg-emerald-50 p-2 text-sm text-emerald-800">
            Connected to {outcome.url}: {outcome.models.length} model{outcome.models.length === 1 ? "" : "s"}
            {outcome.models.length > 0 && (
              <ul data-testid="test-connection-models" className="mt-1 max-h-40 overflow-auto font-mono text-xs text-neutral-700">
                {outcome.models.map((model) => (
                  <li key={model}>{model}</li>
                ))}
              </ul>
            )}
          </div>
        ) : (
          <p data-testid="test-connection-result" data-ok="false" className="rounded border border-red-200 bg-red-50 p-2 text-sm text-red-700">
            {outcome.message}
          </p>
        ))}
    </SettingsForm>
  );
}
