import type { Db } from "@/lib/db";
import { OrchestratorError } from "@/lib/engine/errors";
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

async function savedGateway(db: Db) {
  const rows = await db.setting.findMany({ where: { key: { in: [URL_KEY, API_KEY] } } });
  return { url: rows.find((r) => r.key === URL_KEY)?.value, sealedKey: rows.find((r) => r.key === API_KEY)?.value };
}

export async function getGatewaySettings(db: Db): Promise<GatewaySettingsView> {
  if (process.env.LLM_GATEWAY_URL)
    return { llmGatewayUrl: process.env.LLM_GATEWAY_URL, hasApiKey: Boolean(process.env.LLM_API_KEY), source: "env" };
  const { url, sealedKey } = await savedGateway(db);
  return { llmGatewayUrl: url, hasApiKey: sealedKey !== undefined, source: url ? "settings" : "none" };
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
  const { url, sealedKey } = await savedGateway(db);
  return { llmGatewayUrl: url, llmApiKey: sealedKey ? unseal(sealedKey) : process.env.LLM_API_KEY };
}

function unseal(sealed: string): string {
  try {
    return decryptSecret(sealed);
  } catch {
    throw new OrchestratorError(
      "LLM_NOT_CONFIGURED",
      "the saved LLM API key cannot be decrypted (did ORCHESTRATOR_SECRET_KEY or the data directory's secret.key change?): enter the key again on the Settings page",
    );
  }
}
