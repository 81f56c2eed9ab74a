import "@/lib/zod-browser"; // before any parse: no eval probe under the CSP
import { z } from "zod";
import type { Db } from "@/lib/db";
import { OrchestratorError } from "@/lib/engine/errors";

/**
 * Model prices in US dollars per million tokens, for `costUsd` on steps and runs and for the estimate before a
 * run. Defaults for common models; the Settings page saves overrides and additions (self-hosted models: 0).
 */
export interface ModelPrice {
  inputPerMillion: number;
  outputPerMillion: number;
}
export type PriceTable = Record<string, ModelPrice>;

export const DEFAULT_PRICES: PriceTable = {
  "gpt-4o-mini": { inputPerMillion: 0.15, outputPerMillion: 0.6 },
  "gpt-4o": { inputPerMillion: 2.5, outputPerMillion: 10 },
  "gpt-4.1": { inputPerMillion: 2, outputPerMillion: 8 },
  "gpt-4.1-mini": { inputPerMillion: 0.4, outputPerMillion: 1.6 },
  "gpt-4.1-nano": { inputPerMillion: 0.1, outputPerMillion: 0.4 },
  "o4-mini": { inputPerMillion: 1.1, outputPerMillion: 4.4 },
  "claude-3-5-haiku": { inputPerMillion: 0.8, outputPerMillion: 4 },
  "claude-sonnet-4": { inputPerMillion: 3, outputPerMillion: 15 },
};

export const PRICES_KEY = "llm.prices";

export const PriceTableSchema = z.record(
  z.string().min(1, "model name is required"),
  z.object({
    inputPerMillion: z.number({ error: "inputPerMillion must be a number (USD per million prompt tokens)" }).min(0),
    outputPerMillion: z.number({ error: "outputPerMillion must be a number (USD per million completion tokens)" }).min(0),
  }),
);

/** The price of a model: exact name, else the longest known prefix (dated or provider-prefixed names). */
export function priceOf(table: PriceTable, model: string): ModelPrice | undefined {
  const name = model.includes("/") ? model.slice(model.lastIndexOf("/") + 1) : model;
  if (table[model]) return table[model];
  if (table[name]) return table[name];
  const prefix = Object.keys(table)
    .filter((known) => name.startsWith(known))
    .sort((a, b) => b.length - a.length)[0];
  return prefix ? table[prefix] : undefined;
}

/** Cost in USD of a call, or null when the model has no price. */
export function costUsd(table: PriceTable, model: string, promptTokens: number, completionTokens: number): number | null {
  const price = priceOf(table, model);
  if (!price) return null;
  return (promptTokens * price.inputPerMillion + completionTokens * price.outputPerMillion) / 1_000_000;
}

export async function getPriceTable(db: Db): Promise<{ table: PriceTable; saved: PriceTable }> {
  const row = await db.setting.findUnique({ where: { key: PRICES_KEY } });
  return priceTableOf(row?.value);
}

/** The saved setting's text parsed once per distinct value (every run reads it). */
let lastParsed: { value: string | undefined; result: { table: PriceTable; saved: PriceTable } } | undefined;

export function priceTableOf(value: string | undefined): { table: PriceTable; saved: PriceTable } {
  if (lastParsed && lastParsed.value === value) return lastParsed.result;
  const saved = value !== undefined ? PriceTableSchema.parse(JSON.parse(value)) : {};
  const result = { table: { ...DEFAULT_PRICES, ...saved }, saved };
  lastParsed = { value, result };
  return result;
}

/** Saves price overrides/additions; throws INVALID_INPUT naming the model and field. */
export async function savePriceTable(db: Db, table: unknown) {
  const parsed = PriceTableSchema.safeParse(table);
  if (!parsed.success)
    throw new OrchestratorError("INVALID_INPUT", `prices: ${parsed.error.issues.map((i) => `${i.path.join(".") || "table"}: ${i.message}`).join("; ")}`);
  const value = JSON.stringify(parsed.data);
  await db.setting.upsert({ where: { key: PRICES_KEY }, create: { key: PRICES_KEY, value }, update: { value } });
}
