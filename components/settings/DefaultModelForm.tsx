"use client";

import { useState } from "react";
import { saveDefaultModelSetting } from "@/app/settings/actions";
import { ModelInput } from "@/components/canvas/ModelInput";
import { SettingsForm } from "./SettingsForm";

/** The model llm steps use when they name none (the list comes from the gateway's /models). */
export function DefaultModelForm({ initial }: { initial: string }) {
  const [model, setModel] = useState(initial);
  return (
    <SettingsForm testId="default-model" inline save={() => saveDefaultModelSetting(model)}>
      <label className="block flex-1">
        <span className="mb-1 block text-xs font-medium text-neutral-600">Default model</span>
        <ModelInput testId="default-model" value={model} onChange={(v) => setModel(v ?? "")} placeholder="gpt-4o-mini" />
      </label>
    </SettingsForm>
  );
}
