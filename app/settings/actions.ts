"use server";

import { revalidatePath } from "next/cache";
import { z } from "zod";
import { runAction } from "@/app/_server/action";
import { recordAudit } from "@/lib/audit/record";
import type { Role } from "@/lib/auth/roles";
import { addUser, createToken, revokeToken, updateUser } from "@/lib/auth/users";
import { savePriceTable } from "@/lib/pricing";
import { saveModelLimits as saveModelLimitRows } from "@/lib/governor/settings";
import { pruneByRetention, saveRetentionDays } from "@/lib/runner/retention";
import { getGatewaySettings, getHttpAllowSettings, saveDefaultModel, saveGatewaySettings, saveHttpAllowList, testGatewayConnection } from "@/lib/settings";
import { getPriceTable } from "@/lib/pricing";
import { retentionSetting } from "@/lib/runner/retention";
import { deleteSecret, MAX_SECRET_VALUE_BYTES, MIN_SECRET_VALUE_LENGTH, setSecret } from "@/lib/user-secrets";
import { SECRET_NAME_PATTERN, SECRET_NAME_RULE } from "@/lib/workflow/secret-names";

const GatewayForm = z.object({
  llmGatewayUrl: z.url({ protocol: /^https?$/, error: "enter the gateway's base URL, e.g. http://127.0.0.1:4000/v1" }),
  llmApiKey: z.string().max(4096).optional(),
});

export async function saveGateway(form: { llmGatewayUrl: string; llmApiKey?: string }) {
  return runAction("saveGateway", "admin", async (context) => {
    const parsed = GatewayForm.parse(form);
    const { db, userId } = context;
    const before = await getGatewaySettings(db);
    // A new URL without a key deletes the stored key (it belonged to the old URL): `keyCleared` tells the form.
    const { keyCleared } = await saveGatewaySettings(db, { llmGatewayUrl: parsed.llmGatewayUrl, llmApiKey: parsed.llmApiKey || undefined });
    // The URL, and whether the key changed — never the key.
    const key = parsed.llmApiKey ? "API key replaced" : keyCleared ? "stored API key cleared (it belonged to the old URL)" : "API key unchanged";
    await recordAudit(db, {
      actorId: userId,
      action: "settings.gateway",
      targetType: "settings",
      targetId: "gateway",
      summary: `Set the LLM gateway to ${parsed.llmGatewayUrl}${before.llmGatewayUrl && before.source === "settings" && before.llmGatewayUrl !== parsed.llmGatewayUrl ? ` (was ${before.llmGatewayUrl})` : ""}; ${key}`,
      data: { llmGatewayUrl: parsed.llmGatewayUrl, before: before.source === "settings" ? before.llmGatewayUrl ?? null : null, keyReplaced: Boolean(parsed.llmApiKey), keyCleared },
    });
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
  return runAction("testGateway", "admin", async (context) => {
    const parsed = TestGatewayForm.parse(form);
    const { db } = context;
    return { probe: await testGatewayConnection(db, { llmGatewayUrl: parsed.llmGatewayUrl || undefined, llmApiKey: parsed.llmApiKey || undefined }) };
  });
}

const HttpAllowForm = z.object({ entries: z.array(z.string().max(200, "an entry is at most 200 characters")).max(200, "at most 200 entries") });

/** Saves the http step's allow-list; every entry must be a host name, an address or a CIDR. */
export async function saveHttpAllow(form: { entries: string[] }) {
  return runAction("saveHttpAllow", "admin", async (context) => {
    const parsed = HttpAllowForm.parse(form);
    const { db, userId } = context;
    const before = (await getHttpAllowSettings(db)).saved;
    await saveHttpAllowList(db, parsed.entries);
    const after = parsed.entries.map((e) => e.trim()).filter(Boolean);
    const added = after.filter((e) => !before.includes(e));
    const removed = before.filter((e) => !after.includes(e));
    await recordAudit(db, {
      actorId: userId,
      action: "settings.httpAllow",
      targetType: "settings",
      targetId: "httpAllow",
      summary: `Saved the http allow-list (${after.length} entr${after.length === 1 ? "y" : "ies"}${added.length ? `; added ${added.slice(0, 5).join(", ")}${added.length > 5 ? "…" : ""}` : ""}${removed.length ? `; removed ${removed.slice(0, 5).join(", ")}${removed.length > 5 ? "…" : ""}` : ""})`,
      data: { added: added.slice(0, 50), removed: removed.slice(0, 50), count: after.length },
    });
    revalidatePath("/settings");
    return {};
  });
}

/** Saves model prices (USD per million tokens); a bad entry is refused naming the model and field. */
export async function savePrices(table: unknown) {
  return runAction("savePrices", "admin", async (context) => {
    const { db, userId } = context;
    const before = (await getPriceTable(db)).saved;
    await savePriceTable(db, table);
    const after = (await getPriceTable(db)).saved;
    const changed = Object.keys({ ...before, ...after }).filter((model) => JSON.stringify(before[model]) !== JSON.stringify(after[model]));
    await recordAudit(db, {
      actorId: userId,
      action: "settings.prices",
      targetType: "settings",
      targetId: "prices",
      summary: changed.length ? `Changed the prices of ${changed.slice(0, 5).join(", ")}${changed.length > 5 ? ` and ${changed.length - 5} more` : ""}` : "Saved the prices (no change)",
      data: { changed: changed.slice(0, 50) },
    });
    revalidatePath("/settings");
    return {};
  });
}

/**
 * The model governor's limits (lib/governor): the whole table at once, rows keyed by model name or gateway base
 * URL with optional max concurrent calls, requests and tokens per minute; a bad row is refused naming it.
 */
export async function saveModelLimits(rows: unknown) {
  return runAction("saveModelLimits", "admin", async (context) => {
    const { db, userId } = context;
    const { added, removed, changed, count } = await saveModelLimitRows(db, rows);
    const parts = [added.length && `added ${added.slice(0, 5).join(", ")}`, changed.length && `changed ${changed.slice(0, 5).join(", ")}`, removed.length && `removed ${removed.slice(0, 5).join(", ")}`].filter(Boolean);
    await recordAudit(db, {
      actorId: userId,
      action: "settings.modelLimits",
      targetType: "settings",
      targetId: "modelLimits",
      summary: `Saved the model limits (${count} row${count === 1 ? "" : "s"}${parts.length ? `; ${parts.join("; ")}` : "; no change"})`,
      data: { added: added.slice(0, 50), changed: changed.slice(0, 50), removed: removed.slice(0, 50), count },
    });
    revalidatePath("/settings");
    return {};
  });
}

/** The model llm steps use when they name none. */
export async function saveDefaultModelSetting(model: string) {
  return runAction("saveDefaultModel", "admin", async (context) => {
    const parsed = z.string().trim().min(1, "enter a model name the gateway serves (Test connection lists them)").max(200).parse(model);
    const { db, userId } = context;
    const before = (await getGatewaySettings(db)).defaultModel;
    await saveDefaultModel(db, parsed);
    await recordAudit(db, {
      actorId: userId,
      action: "settings.defaultModel",
      targetType: "settings",
      targetId: "defaultModel",
      summary: `Set the default model to ${parsed}${before && before !== parsed ? ` (was ${before})` : ""}`,
      data: { model: parsed, before: before ?? null },
    });
    revalidatePath("/settings");
    return {};
  });
}

/** Checkpoint retention in days (null keeps everything); old runs are pruned right away. */
export async function saveRetention(days: number | null) {
  return runAction("saveRetention", "admin", async (context) => {
    const { db, checkpointer, userId } = context;
    const before = await retentionSetting(db);
    await saveRetentionDays(db, days);
    await recordAudit(db, {
      actorId: userId,
      action: "settings.retention",
      targetType: "settings",
      targetId: "retention",
      summary: `Set checkpoint retention to ${days === null ? "keep everything" : `${days} day${days === 1 ? "" : "s"}`}${before.fromEnv ? "" : ` (was ${before.days ? `${before.days} days` : "keep everything"})`}`,
      data: { days, before: before.fromEnv ? null : (before.days ?? null) },
    });
    void pruneByRetention(db, checkpointer).catch(() => undefined); // also hourly in the server
    revalidatePath("/settings");
    return {};
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Users (admins) and API tokens (everyone, their own; admins also everyone's)

const UserId = z.string().min(1, "user: which user?").max(200, "user: at most 200 characters");
const TokenId = z.string().min(1, "token: which token?").max(200, "token: at most 200 characters");

/** Adds a user with an initial password (lib/auth/users.ts checks the fields and who may give which role). */
export async function createUser(form: { email: string; name?: string; role: string; password: string }) {
  return runAction("createUser", "admin", async (context) => {
    const { db, actor } = context;
    // addUser parses the whole form (email, name, password, role) and names the field that is wrong.
    const user = await addUser(db, actor, form as { email: string; name?: string; role: Role; password: string });
    revalidatePath("/settings");
    return { user };
  });
}

/** Gives a user another role (the user is signed out: the new role applies from the next sign-in). */
export async function changeUserRole(userId: string, role: string) {
  return runAction("changeUserRole", "admin", async (context) => {
    const { db, actor } = context;
    await updateUser(db, actor, UserId.parse(userId), { role: role as Role });
    revalidatePath("/settings");
    return {};
  });
}

/** Removes a user (refused while the user owns workflows). */
export async function removeUser(userId: string) {
  return runAction("removeUser", "admin", async (context) => {
    const { db, actor } = context;
    await updateUser(db, actor, UserId.parse(userId), { remove: true });
    revalidatePath("/settings");
    return {};
  });
}

/** Creates an API token for the signed-in user; the token is in this answer only (it is stored hashed). */
export async function createApiToken(name: string) {
  return runAction("createApiToken", "viewer", async (context) => {
    const { db, actor } = context;
    const created = await createToken(db, actor, actor.id, name);
    revalidatePath("/settings");
    return { created };
  });
}

/** Revokes one of the user's tokens (admins: anyone's). */
export async function revokeApiToken(tokenId: string) {
  return runAction("revokeApiToken", "viewer", async (context) => {
    const { db, actor } = context;
    await revokeToken(db, actor, TokenId.parse(tokenId));
    revalidatePath("/settings");
    return {};
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Secrets (each user's own; runs resolve the secrets of the user they belong to)

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
  return runAction("saveSecret", "editor", async ({ db, userId }) => {
    const parsed = SecretForm.parse(form);
    const { name, created } = await setSecret(db, userId, parsed.name, parsed.value);
    revalidatePath("/settings");
    return { name, created };
  });
}

/** Deletes a secret of the current user (runs that use it then fail with SECRET_NOT_FOUND). */
export async function removeSecret(form: { name: string }) {
  return runAction("removeSecret", "editor", async ({ db, userId }) => {
    const parsed = z.object({ name: SecretName }).parse(form);
    await deleteSecret(db, userId, parsed.name);
    revalidatePath("/settings");
    return { name: parsed.name };
  });
}
