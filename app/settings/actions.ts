"use server";

import { revalidatePath } from "next/cache";
import { z } from "zod";
import { runAction } from "@/app/_server/action";
import { serverRuntime } from "@/app/_server/runtime";
import { savePriceTable } from "@/lib/pricing";
import { pruneByRetention, saveRetentionDays } from "@/lib/runner/retention";
import { saveDefaultModel, saveGatewaySettings, saveHttpAllowList, testGatewayConnection } from "@/lib/settings";
import { deleteSecret, MAX_SECRET_VALUE_BYTES, MIN_SECRET_VALUE_LENGTH, setSecret } from "@/lib/user-secrets";
import { SECRET_NAME_PATTERN, SECRET_NAME_RULE } from "@/lib/workflow/secret-names";

const GatewayForm = z.object({
  llmGatewayUrl: z.url({ protocol: /^https?$/, error: "enter the gateway's base URL, e.g. http://127.0.0.1:4000/v1" }),
  llmApiKey: z.string().max(4096).optional(),
});

export async function saveGateway(form: { llmGatewayUrl: string; llmApiKey?: string }) {
  return runAction("saveGateway", async () => {
    const parsed = GatewayForm.parse(form);
    const { db } = await serverRuntime();
    await saveGatewaySettings(db, { llmGatewayUrl: parsed.llmGatewayUrl, llmApiKey: parsed.llmApiKey || undefined });
    revalidatePath("/settings");
    return {};
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

const SecretName = z.string().max(64, `use ${SECRET_NAME_RULE}`).regex(SECRET_NAME_PATTERN, `use ${SECRET_NAME_RULE}`);
const SecretForm = z.object({
  name: SecretName,
  // Characters here; the byte bound (UTF-8) is checked where the value is sealed.
  value: z
    .string()
    .min(MIN_SECRET_VALUE_LENGTH, `a secret must be at least ${MIN_SECRET_VALUE_LENGTH} characters long`)
    .max(MAX_SECRET_VALUE_BYTES, `a secret is at most ${MAX_SECRET_VALUE_BYTES} bytes (64 KB)`),
});

/**
 * Creates a secret of the current user or replaces its value. Write-only: the answer names the secret, never its
 * value, and no page or action reads a value back.
 */
export async function saveSecret(form: { name: string; value: string }) {
  return runAction("saveSecret", async () => {
    const parsed = SecretForm.parse(form);
    const { db, userId } = await serverRuntime();
    const { name, created } = await setSecret(db, userId, parsed.name, parsed.value);
    revalidatePath("/settings");
    return { name, created };
  });
}

/** Deletes a secret of the current user (runs that use it then fail with SECRET_NOT_FOUND). */
export async function removeSecret(form: { name: string }) {
  return runAction("removeSecret", async () => {
    const parsed = z.object({ name: SecretName }).parse(form);
    const { db, userId } = await serverRuntime();
    await deleteSecret(db, userId, parsed.name);
    revalidatePath("/settings");
    return { name: parsed.name };
  });
}
