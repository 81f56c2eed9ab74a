"use client";

import { useState } from "react";
import { saveHttpAllow } from "@/app/settings/actions";
import { SettingsForm } from "./SettingsForm";

/**
 * The admin allow-list of the http step's SSRF guard: host names, addresses or CIDRs (one per line) that may be
 * reached although they are private or loopback. Entries from ORCHESTRATOR_HTTP_ALLOW apply as well.
 */
export function HttpAllowForm({ saved, fromEnv }: { saved: string[]; fromEnv: string[] }) {
  const [text, setText] = useState(saved.join("\n"));
  return (
    <SettingsForm testId="http-allow" save={() => saveHttpAllow({ entries: text.split(/[\n,]/).map((s) => s.trim()).filter(Boolean) })}>
      <label className="block">
        <span className="mb-1 block text-xs font-medium text-neutral-600">Allowed hosts, addresses or CIDRs (one per line)</span>
        <textarea data-testid="http-allow" rows={4} className="w-full rounded border border-neutral-300 px-2 py-1 font-mono text-sm" value={text} placeholder={"api.internal\n10.20.0.0/16"} onChange={(e) => setText(e.target.value)} />
      </label>
      {fromEnv.length > 0 && (
        <p className="text-xs text-neutral-500">
          Also allowed by ORCHESTRATOR_HTTP_ALLOW: <code>{fromEnv.join(", ")}</code>
        </p>
      )}
    </SettingsForm>
  );
}
