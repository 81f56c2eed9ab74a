"use server";

import { revalidatePath } from "next/cache";
import { z } from "zod";
import { runAction } from "@/app/_server/action";
import { serverRuntime } from "@/app/_server/runtime";
import { savePriceTable } from "@/lib/pricing";
import { pruneByRetention, saveRetentionDays } from "@/lib/runner/retention";
import { saveDefaultModel, saveGatewaySettings, saveHttpAllowList, testGatewayConnection } from "@/lib/settings";

const GatewayForm = z.object({
  llmGatewayUrl: z.url({ protocol: /^https?$/, error: "enter the gateway's base URL, e.g. http://127.0.0.1:4000/v1" }),
  llmApiKey: z.string().max(4096).optional(),
});

export async function saveGateway(form: { llmGatewayUrl: string; llmApiKey?: string }) {
  return runAction("saveGateway", async () => {
    const parsed = GatewayForm.parse(form);
    const { db } = await serverRuntime();
    // A new URL without a key deletes the stored key (it belonged to the old URL): `keyCleared` tells the form.
    const { keyCleared } = await saveGatewaySettings(db, { llmGatewayUrl: parsed.llmGatewayUrl, llmApiKey: parsed.llmApiKey || undefined });
    revalidatePath("/settings");
    return { keyCleared };
  });
}

const TestGatewayForm = z.object({
  llmGatewayUrl: z.union([z.literal(""), z.url({ protocol: /^https?$/, error: "enter the gateway's base URL, e.g. http://127.0.0.1:4000/v1" })]).optional(),
  llmApiKey: z.string().max(4096).optional(),
});

/**
 * "Test connection": asks the gateway in the form (else the configured one) for its models with the form's key,
 * else the stored one; the answer lists the models or says what is wrong (unreachable, key refused, not an
 * OpenAI-compatible gateway, no answer in time). Nothing is saved.
 */
export async function testGateway(form: { llmGatewayUrl?: string; llmApiKey?: string }) {
  return runAction("testGateway", async () => {
    const parsed = TestGatewayForm.parse(form);
    const { db } = await serverRuntime();
    return { probe: await testGatewayConnection(db, { llmGatewayUrl: parsed.llmGatewayUrl || undefined, llmApiKey: parsed.llmApiKey || undefined }) };
  });
}

const HttpAllowForm = z.object({ entries: z.array(z.string().max(200, "an entry is at most 200 characters")).max(200, "at most 200 entries") });

/** Saves the http step's allow-list; every entry must be a host name, an address or a CIDR. */
export async function saveHttpAllow(form: { entries: string[] }) {
  return runAction("saveHttpAllow", async () => {
    const parsed = HttpAllowForm.parse(form);
    const { db } = await serverRuntime();
    await saveHttpAllowList(db, parsed.entries);
    revalidatePath("/settings");
    return {};
  });
}

/** Saves model prices (USD per million tokens); a bad entry is refused naming the model and field. */
export async function savePrices(table: unknown) {
  return runAction("savePrices", async () => {
    const { db } = await serverRuntime();
    await savePriceTable(db, table);
    revalidatePath("/settings");
    return {};
  });
}

/** The model llm steps use when they name none. */
export async function saveDefaultModelSetting(model: string) {
  return runAction("saveDefaultModel", async () => {
    const parsed = z.string().trim().min(1, "enter a model name the gateway serves (Test connection lists them)").max(200).parse(model);
    const { db } = await serverRuntime();
    await saveDefaultModel(db, parsed);
    revalidatePath("/settings");
    return {};
  });
}

/** Checkpoint retention in days (null keeps everything); old runs are pruned right away. */
export async function saveRetention(days: number | null) {
  return runAction("saveRetention", async () => {
    const { db, checkpointer } = await serverRuntime();
    await saveRetentionDays(db, days);
    void pruneByRetention(db, checkpointer).catch(() => undefined); // also hourly in the server
    revalidatePath("/settings");
    return {};
  });
}
