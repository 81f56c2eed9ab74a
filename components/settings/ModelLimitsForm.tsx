"use client";

import { useState } from "react";
import { saveModelLimits } from "@/app/settings/actions";
import { SettingsForm } from "./SettingsForm";

interface Row {
  kind: "model" | "gateway";
  match: string;
  maxConcurrent: string;
  rpm: string;
  tpm: string;
}

type Saved = { kind: "model" | "gateway"; match: string; maxConcurrent: number | null; rpm: number | null; tpm: number | null };

const text = (n: number | null) => (n === null ? "" : String(n));
/** Empty: no limit of that kind; anything else goes to the server as a number (it says what is wrong with it). */
const numberOrNull = (s: string) => (s.trim() === "" ? null : Number(s.trim()));

/** Rows of limits per model or gateway: calls over a limit wait in line (`waiting for rate limit`) instead of failing. */
export function ModelLimitsForm({ saved }: { saved: Saved[] }) {
  const [rows, setRows] = useState<Row[]>(saved.map((r) => ({ kind: r.kind, match: r.match, maxConcurrent: text(r.maxConcurrent), rpm: text(r.rpm), tpm: text(r.tpm) })));
  const update = (i: number, patch: Partial<Row>) => setRows((all) => all.map((r, j) => (j === i ? { ...r, ...patch } : r)));
  const save = () =>
    saveModelLimits(rows.map((r) => ({ kind: r.kind, match: r.match, maxConcurrent: numberOrNull(r.maxConcurrent), rpm: numberOrNull(r.rpm), tpm: numberOrNull(r.tpm) })));
  const cell = "rounded border border-neutral-300 px-1.5 py-1 text-xs";
  return (
    <SettingsForm
      testId="model-limits"
      save={save}
      actions={
        <button type="button" data-testid="model-limits-add" className="rounded border border-neutral-300 px-2 py-1 text-sm" onClick={() => setRows((all) => [...all, { kind: "model", match: "", maxConcurrent: "", rpm: "", tpm: "" }])}>
          Add limit
        </button>
      }
    >
      {rows.length === 0 && <p className="text-xs text-neutral-500">No limits: calls go out as soon as steps make them (a 429 with Retry-After still pauses its model).</p>}
      {rows.length > 0 && (
        <table className="w-full text-left text-xs">
          <thead className="text-neutral-500">
            <tr>
              <th className="font-medium">Applies to</th>
              <th className="font-medium">Model or gateway URL</th>
              <th className="font-medium">Concurrent</th>
              <th className="font-medium">Req/min</th>
              <th className="font-medium">Tokens/min</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {rows.map((row, i) => (
              <tr key={i} data-testid={`model-limit-${i}`}>
                <td>
                  <select aria-label="applies to" data-testid={`model-limit-kind-${i}`} className={cell} value={row.kind} onChange={(e) => update(i, { kind: e.target.value as Row["kind"] })}>
                    <option value="model">model</option>
                    <option value="gateway">gateway</option>
                  </select>
                </td>
                <td>
                  <input aria-label="model or gateway URL" data-testid={`model-limit-match-${i}`} className={`${cell} w-full font-mono`} maxLength={500} value={row.match} placeholder={row.kind === "model" ? "gpt-4o-mini" : "http://127.0.0.1:4000/v1"} onChange={(e) => update(i, { match: e.target.value })} />
                </td>
                <td>
                  <input aria-label="max concurrent calls" data-testid={`model-limit-concurrent-${i}`} className={`${cell} w-16`} inputMode="numeric" value={row.maxConcurrent} placeholder="—" onChange={(e) => update(i, { maxConcurrent: e.target.value })} />
                </td>
                <td>
                  <input aria-label="requests per minute" data-testid={`model-limit-rpm-${i}`} className={`${cell} w-20`} inputMode="numeric" value={row.rpm} placeholder="—" onChange={(e) => update(i, { rpm: e.target.value })} />
                </td>
                <td>
                  <input aria-label="tokens per minute" data-testid={`model-limit-tpm-${i}`} className={`${cell} w-24`} inputMode="numeric" value={row.tpm} placeholder="—" onChange={(e) => update(i, { tpm: e.target.value })} />
                </td>
                <td>
                  <button type="button" aria-label="remove" data-testid={`model-limit-remove-${i}`} className="px-1 text-neutral-500 hover:text-red-600" onClick={() => setRows((all) => all.filter((_, j) => j !== i))}>
                    ×
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </SettingsForm>
  );
}
