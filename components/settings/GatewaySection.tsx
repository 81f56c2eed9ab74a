"use client";

import { useState } from "react";
import { DefaultModelForm } from "./DefaultModelForm";
import { GatewayForm } from "./GatewayForm";

/** The gateway and the default model together: the models a Test connection lists are offered as the default. */
export function GatewaySection({ initialUrl, hasApiKey, defaultModel }: { initialUrl: string; hasApiKey: boolean; defaultModel: string }) {
  const [models, setModels] = useState<string[]>([]);
  return (
    <>
      <GatewayForm initialUrl={initialUrl} hasApiKey={hasApiKey} onModels={setModels} />
      <DefaultModelForm initial={defaultModel} models={models} />
    </>
  );
}
