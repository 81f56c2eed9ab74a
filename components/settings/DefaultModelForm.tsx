"use client";

import { useState } from "react";
import { saveDefaultModelSetting } from "@/app/settings/actions";
import { ModelInput } from "@/components/canvas/ModelInput";
import { SettingsForm } from "./SettingsForm";

/**
 * The model llm steps use when they name none. The field offers the gateway's /models list, and the models a
 * Test connection found (`models`).
 */
export function DefaultModelForm({ initial, models }: { initial: string; models?: string[] }) {
  const [model, setModel] = useState(initial);
  return (
    <SettingsForm testId="default-model" inline save={() => saveDefaultModelSetting(model)}>
      <label className="block flex-1">
        <span className="mb-1 block text-xs font-medium text-neutral-600">Default model (used by steps that name none)</span>
        <ModelInput testId="default-model" value={model} onChange={(v) => setModel(v ?? "")} models={models} showsDefault={false} placeholder="one of the gateway's models" />
      </label>
    </SettingsForm>
  );
}
