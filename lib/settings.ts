import type { Db } from "@/lib/db";
import { OrchestratorError } from "@/lib/engine/errors";
import type { RuntimeSettings } from "@/lib/engine/steps/types";
import { parseAllowList } from "@/lib/net/address-policy";
import { PRICES_KEY, priceTableOf } from "./pricing";
import { decryptSecret, encryptSecret } from "./secrets";

/**
 * LLM gateway settings: env LLM_GATEWAY_URL / LLM_API_KEY win over what was saved on the Settings page.
 * The API key is stored encrypted and never leaves the server.
 */
const URL_KEY = "llm.gatewayUrl";
const API_KEY = "llm.apiKey";
const MODEL_KEY = "llm.defaultModel";
const HTTP_ALLOW_KEY = "http.allow";

export interface GatewaySettingsView {
  llmGatewayUrl?: string;
  hasApiKey: boolean;
  source: "env" | "settings" | "none";
  /** Used by llm steps that name no model (env LLM_DEFAULT_MODEL wins). */
  defaultModel?: string;
}

type SettingRow = { key: string; value: string };

async function savedGateway(db: Db) {
  return gatewayOf(await db.setting.findMany({ where: { key: { in: [URL_KEY, API_KEY, MODEL_KEY] } } }));
}

function gatewayOf(rows: SettingRow[]) {
  const value = (key: string) => rows.find((r) => r.key === key)?.value;
  return { url: value(URL_KEY), sealedKey: value(API_KEY), defaultModel: process.env.LLM_DEFAULT_MODEL || value(MODEL_KEY) || undefined };
}

export async function getGatewaySettings(db: Db): Promise<GatewaySettingsView> {
  const { url, sealedKey, defaultModel } = await savedGateway(db);
  if (process.env.LLM_GATEWAY_URL)
    return { llmGatewayUrl: process.env.LLM_GATEWAY_URL, hasApiKey: Boolean(process.env.LLM_API_KEY), source: "env", defaultModel };
  return { llmGatewayUrl: url, hasApiKey: sealedKey !== undefined, source: url ? "settings" : "none", defaultModel };
}

/** The model ids the gateway lists (GET <base>/models, OpenAI format); [] when it cannot be asked. */
export async function listGatewayModels(db: Db): Promise<string[]> {
  const settings = await gatewayConnection(db).catch(() => undefined);
  if (!settings?.llmGatewayUrl) return [];
  try {
    const response = await fetch(`${settings.llmGatewayUrl.replace(/\/+$/, "")}/models`, {
      headers: settings.llmApiKey ? { authorization: `Bearer ${settings.llmApiKey}` } : {},
      signal: AbortSignal.timeout(3000),
    });
    if (!response.ok) return [];
    const body = (await response.json()) as { data?: Array<{ id?: unknown }> };
    return (body.data ?? []).map((m) => m.id).filter((id): id is string => typeof id === "string").sort();
  } catch {
    return [];
  }
}

export async function saveDefaultModel(db: Db, model: string) {
  await db.setting.upsert({ where: { key: MODEL_KEY }, create: { key: MODEL_KEY, value: model }, update: { value: model } });
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

/**
 * The setting rows a run reads, all in one query at its start: read afresh for every run, so a change made in
 * any process (Settings page, CLI) applies to the next run.
 */
export const RUNTIME_SETTING_KEYS = [URL_KEY, API_KEY, MODEL_KEY, HTTP_ALLOW_KEY, PRICES_KEY];

/** What executors get at run time (the decrypted key stays on the server). */
export async function resolveRuntimeSettings(db: Db): Promise<RuntimeSettings> {
  return runtimeSettingsOf(await db.setting.findMany({ where: { key: { in: RUNTIME_SETTING_KEYS } } }));
}

/** RuntimeSettings from the rows of RUNTIME_SETTING_KEYS (and the environment, which wins). */
export function runtimeSettingsOf(rows: SettingRow[]): RuntimeSettings {
  const saved = (key: string) => rows.find((r) => r.key === key)?.value;
  return {
    ...connectionOf(gatewayOf(rows)),
    // A bad entry in the environment is an operator error: ignored rather than open anything by accident.
    httpAllow: parseAllowList([...splitEntries(process.env.ORCHESTRATOR_HTTP_ALLOW), ...splitEntries(saved(HTTP_ALLOW_KEY))]).allow,
    prices: priceTableOf(saved(PRICES_KEY)).table,
  };
}

/** Where the gateway is and how to authenticate (the decrypted key stays on the server). Env wins. */
async function gatewayConnection(db: Db): Promise<Pick<RuntimeSettings, "llmGatewayUrl" | "llmApiKey" | "defaultModel">> {
  return connectionOf(await savedGateway(db));
}

function connectionOf({ url, sealedKey, defaultModel }: ReturnType<typeof gatewayOf>): Pick<RuntimeSettings, "llmGatewayUrl" | "llmApiKey" | "defaultModel"> {
  if (process.env.LLM_GATEWAY_URL) return { llmGatewayUrl: process.env.LLM_GATEWAY_URL, llmApiKey: process.env.LLM_API_KEY, defaultModel };
  return { llmGatewayUrl: url, llmApiKey: sealedKey ? unseal(sealedKey) : process.env.LLM_API_KEY, defaultModel };
}

/**
 * The HTTP allow-list: addresses the `http` step may reach although the SSRF policy refuses them (internal
 * APIs). Entries from env ORCHESTRATOR_HTTP_ALLOW (comma-separated) and from the Settings page both apply.
 */

const splitEntries = (text: string | undefined) => (text ?? "").split(/[,\n]/).map((e) => e.trim()).filter(Boolean);

export async function getHttpAllowSettings(db: Db): Promise<{ env: string[]; saved: string[] }> {
  const row = await db.setting.findUnique({ where: { key: HTTP_ALLOW_KEY } });
  return { env: splitEntries(process.env.ORCHESTRATOR_HTTP_ALLOW), saved: splitEntries(row?.value) };
}

export async function saveHttpAllowList(db: Db, entries: string[]) {
  const { problems } = parseAllowList(entries);
  if (problems.length) throw new OrchestratorError("INVALID_INPUT", `allow-list: ${problems.join("; ")}`);
  const value = entries.map((e) => e.trim()).filter(Boolean).join(",");
  await db.setting.upsert({ where: { key: HTTP_ALLOW_KEY }, create: { key: HTTP_ALLOW_KEY, value }, update: { value } });
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
