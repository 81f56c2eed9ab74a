import type { Db } from "@/lib/db";
import type { RuntimeSettings } from "@/lib/engine/steps/types";
import { decryptSecret, encryptSecret } from "./secrets";

/**
 * LLM gateway settings: env LLM_GATEWAY_URL / LLM_API_KEY win over what was saved on the Settings page.
 * The API key is stored encrypted and never leaves the server.
 */
const URL_KEY = "llm.gatewayUrl";
const API_KEY = "llm.apiKey";

export interface GatewaySettingsView {
  llmGatewayUrl?: string;
  hasApiKey: boolean;
  source: "env" | "settings" | "none";
}

export async function getGatewaySettings(db: Db): Promise<GatewaySettingsView> {
  if (process.env.LLM_GATEWAY_URL)
    return { llmGatewayUrl: process.env.LLM_GATEWAY_URL, hasApiKey: Boolean(process.env.LLM_API_KEY), source: "env" };
  const rows = await db.setting.findMany({ where: { key: { in: [URL_KEY, API_KEY] } } });
  const url = rows.find((r) => r.key === URL_KEY)?.value;
  return { llmGatewayUrl: url, hasApiKey: rows.some((r) => r.key === API_KEY), source: url ? "settings" : "none" };
}

export async function saveGatewaySettings(db: Db, settings: { llmGatewayUrl: string; llmApiKey?: string }) {
  await db.setting.upsert({
    where: { key: URL_KEY },
    create: { key: URL_KEY, value: settings.llmGatewayUrl },
    update: { value: settings.llmGatewayUrl },
  });
  if (settings.llmApiKey) {
    const value = encryptSecret(settings.llmApiKey);
    await db.setting.upsert({
      where: { key: API_KEY },
      create: { key: API_KEY, value, encrypted: true },
      update: { value, encrypted: true },
    });
  }
}

/** What executors get at run time (the decrypted key stays on the server). */
export async function resolveRuntimeSettings(db: Db): Promise<RuntimeSettings> {
  if (process.env.LLM_GATEWAY_URL)
    return { llmGatewayUrl: process.env.LLM_GATEWAY_URL, llmApiKey: process.env.LLM_API_KEY };
  const rows = await db.setting.findMany({ where: { key: { in: [URL_KEY, API_KEY] } } });
  const sealed = rows.find((r) => r.key === API_KEY)?.value;
  return {
    llmGatewayUrl: rows.find((r) => r.key === URL_KEY)?.value,
    llmApiKey: sealed ? decryptSecret(sealed) : process.env.LLM_API_KEY,
  };
}
