"use client";

import { useEffect, useState } from "react";
import { gatewayModels } from "@/app/workflows/actions";

let cached: Promise<string[]> | undefined;

/** The models the gateway lists, asked once per page load. */
function useGatewayModels(): string[] {
  const [models, setModels] = useState<string[]>([]);
  useEffect(() => {
    cached ??= gatewayModels().then((result) => (result.ok ? result.models : []));
    void cached.then(setModels);
  }, []);
  return models;
}

/** A model name field that offers the gateway's /models list (any other name can still be typed). */
export function ModelInput({ value, onChange, placeholder, testId }: { value: unknown; onChange(value: string | undefined): void; placeholder?: string; testId?: string }) {
  const models = useGatewayModels();
  const listId = `${testId ?? "model"}-options`;
  return (
    <>
      <input
        data-testid={testId}
        list={listId}
        value={typeof value === "string" ? value : ""}
        placeholder={placeholder}
        onChange={(e) => onChange(e.target.value || undefined)}
        className="w-full rounded border border-neutral-300 px-2 py-1 text-sm"
      />
      <datalist id={listId} data-testid={`${testId}-models`}>
        {models.map((model) => (
          <option key={model} value={model} />
        ))}
      </datalist>
    </>
  );
}
