"use client";

import { useState } from "react";
import { savePrices } from "@/app/settings/actions";
import { SettingsForm } from "./SettingsForm";

type Table = Record<string, { inputPerMillion: number; outputPerMillion: number }>;

/** Model prices (USD per million tokens) used for costUsd and the estimate; saved entries override the defaults. */
export function PricesForm({ saved, defaults }: { saved: Table; defaults: Table }) {
  const [text, setText] = useState(JSON.stringify(saved, null, 2));
  const save = async () => {
    try {
      return await savePrices(JSON.parse(text || "{}"));
    } catch (err) {
      return { ok: false as const, message: `not valid JSON: ${(err as Error).message}` };
    }
  };
  return (
    <SettingsForm testId="prices" save={save}>
      <label className="block">
        <span className="mb-1 block text-xs font-medium text-neutral-600">Your prices (override or add models)</span>
        <textarea data-testid="prices" rows={6} spellCheck={false} className="w-full rounded border border-neutral-300 px-2 py-1 font-mono text-xs" value={text} onChange={(e) => setText(e.target.value)} placeholder={'{ "llama3.1": { "inputPerMillion": 0, "outputPerMillion": 0 } }'} />
      </label>
      <details className="text-xs text-neutral-600">
        <summary>Default prices</summary>
        <ul className="mt-1 font-mono">
          {Object.entries(defaults).map(([model, p]) => (
            <li key={model}>
              {model}: ${p.inputPerMillion} in / ${p.outputPerMillion} out per 1M tokens
            </li>
          ))}
        </ul>
      </details>
    </SettingsForm>
  );
}
