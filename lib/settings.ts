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
  const probe = await probeGateway(settings.llmGatewayUrl, settings.llmApiKey, { timeoutMs: 3000 });
  return probe.ok ? probe.models : [];
}

/** What asking a gateway for its models found: the models, or what is wrong, in words for the Settings page. */
export type GatewayProbe =
  | { ok: true; url: string; models: string[] }
  | { ok: false; url: string; problem: "unreachable" | "timeout" | "unauthorized" | "http" | "not-openai"; message: string };

export const GATEWAY_PROBE_TIMEOUT_MS = 5000;
/** A models list is small; more than this is not a gateway's answer. */
const MAX_MODELS_RESPONSE_BYTES = 4 * 1024 * 1024;

/**
 * Asks an OpenAI-compatible gateway for its models (`GET <base>/models` with the key as a bearer token), within a
 * time limit. Like the llm step it reaches any address, loopback included: the gateway is the operator's own
 * configuration, not user input, so the http step's SSRF guard does not apply to it.
 */
export async function probeGateway(baseUrl: string, apiKey: string | undefined, options: { timeoutMs?: number } = {}): Promise<GatewayProbe> {
  const timeoutMs = options.timeoutMs ?? GATEWAY_PROBE_TIMEOUT_MS;
  const url = `${baseUrl.replace(/\/+$/, "")}/models`;
  const fail = (problem: Exclude<GatewayProbe, { ok: true }>["problem"], message: string): GatewayProbe => ({ ok: false, url, problem, message });
  let status: number;
  let body: string;
  try {
    const response = await fetch(url, {
      headers: { accept: "application/json", ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}) },
      signal: AbortSignal.timeout(timeoutMs),
    });
    status = response.status;
    body = await readCapped(response, MAX_MODELS_RESPONSE_BYTES);
  } catch (err) {
    const name = (err as { name?: string })?.name;
    if (name === "TimeoutError" || name === "AbortError") return fail("timeout", `${url} did not answer within ${timeoutMs / 1000} s: is the gateway running and the address right?`);
    if (err instanceof ResponseTooLarge) return fail("not-openai", `${url} answered with more than ${MAX_MODELS_RESPONSE_BYTES / (1024 * 1024)} MB: that is not an OpenAI-compatible models list; check the base URL`);
    return fail("unreachable", `could not reach ${url}: ${networkCause(err)}; check the URL and that the gateway is running`);
  }
  const detail = errorDetail(body);
  if (status === 401 || status === 403)
    return fail("unauthorized", `the gateway refused ${apiKey ? "the API key" : "the request without an API key"} (HTTP ${status}${detail ? `: ${detail}` : ""}); enter the key it expects and save`);
  if (status < 200 || status >= 300)
    return fail("http", `${url} answered HTTP ${status}${detail ? `: ${detail}` : ""}; check the base URL (an OpenAI-compatible gateway serves /models under it, usually …/v1)`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    parsed = undefined;
  }
  const data = (parsed as { data?: unknown } | undefined)?.data;
  if (!Array.isArray(data) || !data.every((m) => typeof (m as { id?: unknown } | null)?.id === "string"))
    return fail(
      "not-openai",
      `${url} did not answer like an OpenAI-compatible gateway (expected JSON { "data": [{ "id": "…" }] }, got ${JSON.stringify(body.slice(0, 80))}${body.length > 80 ? "…" : ""}); check the base URL, it usually ends in /v1`,
    );
  return { ok: true, url, models: [...new Set((data as Array<{ id: string }>).map((m) => m.id))].sort() };
}

class ResponseTooLarge extends Error {}

async function readCapped(response: Response, maxBytes: number): Promise<string> {
  if (!response.body) return "";
  const decoder = new TextDecoder();
  let text = "";
  let bytes = 0;
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    bytes += chunk.byteLength;
    if (bytes > maxBytes) {
      await response.body.cancel().catch(() => undefined);
      throw new ResponseTooLarge();
    }
    text += decoder.decode(chunk, { stream: true });
  }
  return text + decoder.decode();
}

/** The gateway's own error message (OpenAI's `{ error: { message } }`), or the start of a plain-text body. */
function errorDetail(body: string): string {
  try {
    const message = (JSON.parse(body) as { error?: { message?: unknown } | string })?.error;
    const text = typeof message === "string" ? message : message?.message;
    if (typeof text === "string") return text.slice(0, 200);
  } catch {
    // not JSON
  }
  return body.trim().split("\n")[0].slice(0, 120);
}

/** fetch's "fetch failed" hides why: the cause chain holds it (ECONNREFUSED, ENOTFOUND…). */
function networkCause(err: unknown): string {
  const parts: string[] = [];
  for (let c: unknown = err, depth = 0; c && typeof c === "object" && depth < 5; c = (c as { cause?: unknown }).cause, depth++) {
    const { message, code } = c as { message?: unknown; code?: unknown };
    if (typeof code === "string") return `${typeof message === "string" ? message : code} (${code})`;
    if (typeof message === "string") parts.push(message);
  }
  const last = parts.at(-1) ?? String(err);
  // fetch refuses some well-known ports (the WHATWG "bad ports" list), as the llm step's client does too.
  return last === "bad port" ? "fetch refuses this port (it is on the list of blocked ports); serve the gateway on another port" : last;
}

/**
 * "Test connection" on the Settings page: probes the URL in the form (else the configured one) with the key in
 * the form, else the key kept for that very URL — the environment's key for the environment's URL, the stored
 * key for the saved URL — so a URL typed on the page never receives a key the page could not otherwise use.
 */
export async function testGatewayConnection(db: Db, form: { llmGatewayUrl?: string; llmApiKey?: string } = {}): Promise<GatewayProbe & { key: "form" | "stored" | "none" }> {
  const { url: savedUrl, sealedKey } = await savedGateway(db);
  const envUrl = process.env.LLM_GATEWAY_URL || undefined;
  const url = form.llmGatewayUrl?.trim() || envUrl || savedUrl;
  if (!url)
    throw new OrchestratorError("LLM_NOT_CONFIGURED", "no gateway URL to test: enter the gateway's base URL, e.g. http://127.0.0.1:4000/v1");
  const stored = sameGatewayUrl(url, envUrl) ? process.env.LLM_API_KEY : sealedKey && sameGatewayUrl(url, savedUrl) ? unseal(sealedKey) : undefined;
  const key = form.llmApiKey || stored;
  const probe = await probeGateway(url, key);
  return { ...probe, key: form.llmApiKey ? "form" : stored ? "stored" : "none" };
}

/** Two gateway base URLs name the same gateway (trailing slashes and surrounding spaces aside). */
export function sameGatewayUrl(a: string | undefined, b: string | undefined): boolean {
  const norm = (url: string) => url.trim().replace(/\/+$/, "");
  return a !== undefined && b !== undefined && norm(a) === norm(b);
}

export async function saveDefaultModel(db: Db, model: string) {
  await db.setting.upsert({ where: { key: MODEL_KEY }, create: { key: MODEL_KEY, value: model }, update: { value: model } });
}

/**
 * Saves the gateway URL, and the key when one is given. The stored key belongs to the URL it was entered with: a
 * new URL saved without a key deletes it, so changing the URL can never send the key somewhere else (a
 * `keyCleared` result says so). Saving the same URL again keeps it.
 */
export async function saveGatewaySettings(db: Db, settings: { llmGatewayUrl: string; llmApiKey?: string }): Promise<{ keyCleared: boolean }> {
  const { url: savedUrl, sealedKey } = await savedGateway(db);
  const keyCleared = !settings.llmApiKey && sealedKey !== undefined && !sameGatewayUrl(savedUrl, settings.llmGatewayUrl);
  if (keyCleared) await db.setting.deleteMany({ where: { key: API_KEY } });
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
  return { keyCleared };
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

/** Each key goes only to the URL it came with: LLM_API_KEY to LLM_GATEWAY_URL, the stored key to the saved URL. */
function connectionOf({ url, sealedKey, defaultModel }: ReturnType<typeof gatewayOf>): Pick<RuntimeSettings, "llmGatewayUrl" | "llmApiKey" | "defaultModel"> {
  if (process.env.LLM_GATEWAY_URL) return { llmGatewayUrl: process.env.LLM_GATEWAY_URL, llmApiKey: process.env.LLM_API_KEY, defaultModel };
  return { llmGatewayUrl: url, llmApiKey: sealedKey ? unseal(sealedKey) : undefined, defaultModel };
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
