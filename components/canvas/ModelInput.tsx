"use client";

import { useEffect, useState } from "react";
import { gatewayModels } from "@/app/workflows/actions";

interface GatewayModels {
  models: string[];
  /** The model steps without one use (Settings / LLM_DEFAULT_MODEL). */
  defaultModel?: string;
}

let cached: Promise<GatewayModels> | undefined;

/** The models the gateway lists and the configured default model, asked once per page load. */
function useGatewayModels(): GatewayModels {
  const [known, setKnown] = useState<GatewayModels>({ models: [] });
  useEffect(() => {
    cached ??= gatewayModels().then((result) => (result.ok ? { models: result.models, defaultModel: result.defaultModel ?? undefined } : { models: [] }));
    void cached.then(setKnown);
  }, []);
  return known;
}

/**
 * A model name field that offers the gateway's /models list (any other name can still be typed). Empty means the
 * default model, which the placeholder names once known (`showsDefault`); `models` adds names found otherwise
 * (Settings' Test connection).
 */
export function ModelInput({ value, onChange, placeholder, testId, models: extra, showsDefault = true }: {
  value: unknown;
  onChange(value: string | undefined): void;
  placeholder?: string;
  testId?: string;
  models?: string[];
  showsDefault?: boolean;
}) {
  const known = useGatewayModels();
  const models = extra?.length ? [...new Set([...extra, ...known.models])].sort() : known.models;
  const listId = `${testId ?? "model"}-options`;
  const shownPlaceholder = showsDefault && known.defaultModel ? `${placeholder ?? "default model"}: ${known.defaultModel}` : placeholder;
  return (
    <>
      <input
        data-testid={testId}
        list={listId}
        value={typeof value === "string" ? value : ""}
        placeholder={shownPlaceholder}
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
