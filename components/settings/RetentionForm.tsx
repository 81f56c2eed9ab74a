"use client";

import { useState } from "react";
import { saveRetention } from "@/app/settings/actions";
import { SettingsForm } from "./SettingsForm";

/** How long finished runs keep their step-by-step checkpoints (empty: forever). */
export function RetentionForm({ initial, fromEnv }: { initial?: number; fromEnv: boolean }) {
  const [days, setDays] = useState(initial ? String(initial) : "");
  return (
    <SettingsForm testId="retention" inline save={() => saveRetention(days.trim() === "" ? null : Number(days))}>
      <label className="block flex-1">
        <span className="mb-1 block text-xs font-medium text-neutral-600">Keep the checkpoint history of finished runs for (days)</span>
        <input
          data-testid="retention-days"
          inputMode="numeric"
          value={days}
          disabled={fromEnv}
          placeholder="keep everything"
          onChange={(e) => setDays(e.target.value)}
          className="w-full rounded border border-neutral-300 px-2 py-1 text-sm disabled:bg-neutral-100"
        />
      </label>
    </SettingsForm>
  );
}
