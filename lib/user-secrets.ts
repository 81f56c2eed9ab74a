import type { Db } from "@/lib/db";
import { recordAudit } from "@/lib/audit/record";
import type { SqlConnection } from "@/lib/db/sql";
import { OrchestratorError } from "@/lib/engine/errors";
import { runSecrets, type RunSecrets, type SecretProblem } from "@/lib/engine/redact";
import { SECRET_NAME_PATTERN, SECRET_NAME_RULE } from "@/lib/workflow/secret-names";
import { decryptSecret, encryptSecret } from "./secrets";

/**
 * A user's named secrets (API keys, auth header values) for `{{ secrets.NAME }}` in step configs: sealed with
 * AES-256-GCM (lib/secrets.ts), write-only — nothing here returns a value except `resolveRunSecrets`, which the
 * runner calls for the names a run's definition reads. Every function is scoped to its owner.
 */

/** The largest value (UTF-8): API keys, tokens and PEM keys fit; a value is held in memory by every run using it. */
export const MAX_SECRET_VALUE_BYTES = 64 * 1024;
/** Shorter values would be redacted wherever those characters appear in a run's records. */
export const MIN_SECRET_VALUE_LENGTH = 4;
/** Secrets per user (a run resolves the ones it names; the Settings page lists them all). */
export const MAX_SECRETS_PER_USER = 200;

export interface SecretSummary {
  name: string;
  createdAt: Date;
  updatedAt: Date;
}

/** A valid name, or INVALID_INPUT naming the rule. */
export function checkSecretName(name: unknown): string {
  if (typeof name !== "string" || !SECRET_NAME_PATTERN.test(name)) {
    const shown = typeof name === "string" ? `"${name.length > 80 ? `${name.slice(0, 80)}…` : name}"` : "the name";
    throw new OrchestratorError("INVALID_INPUT", `name: ${shown} is not a valid secret name; names are ${SECRET_NAME_RULE}`);
  }
  return name;
}

/** A value within the bounds, or INVALID_INPUT saying which. */
export function checkSecretValue(value: unknown): string {
  if (typeof value !== "string") throw new OrchestratorError("INVALID_INPUT", "value: the secret's value must be text");
  if (value.length < MIN_SECRET_VALUE_LENGTH)
    throw new OrchestratorError(
      "INVALID_INPUT",
      `value: a secret must be at least ${MIN_SECRET_VALUE_LENGTH} characters long (a shorter one would be redacted wherever those characters appear in run records)`,
    );
  // UTF-8 takes at least one byte per UTF-16 unit and at most three: count exactly only when it matters.
  const bytes = value.length > MAX_SECRET_VALUE_BYTES || value.length * 3 <= MAX_SECRET_VALUE_BYTES ? value.length : Buffer.byteLength(value);
  if (bytes > MAX_SECRET_VALUE_BYTES)
    throw new OrchestratorError("INVALID_INPUT", `value: the secret is ${bytes.toLocaleString("en-US")} bytes or more, more than the limit of ${MAX_SECRET_VALUE_BYTES.toLocaleString("en-US")} bytes (64 KB)`);
  return value;
}

/** The owner's secrets by name, without values. */
export async function listSecrets(db: Db, ownerId: string): Promise<SecretSummary[]> {
  return db.secret.findMany({ where: { ownerId }, orderBy: { name: "asc" }, select: { name: true, createdAt: true, updatedAt: true } });
}

/** Creates the secret or replaces its value; the audit log records the name only. */
export async function setSecret(db: Db, ownerId: string, name: unknown, value: unknown): Promise<{ name: string; created: boolean }> {
  const checkedName = checkSecretName(name);
  const sealed = encryptSecret(checkSecretValue(value));
  return db.$transaction(async (tx) => {
    const existing = await tx.secret.findUnique({ where: { ownerId_name: { ownerId, name: checkedName } }, select: { name: true } });
    if (!existing) {
      const count = await tx.secret.count({ where: { ownerId } });
      if (count >= MAX_SECRETS_PER_USER)
        throw new OrchestratorError("CONFLICT", `you have ${count} secrets, the most a user may have (${MAX_SECRETS_PER_USER}); delete one you no longer use, or replace the value of an existing one`);
    }
    await tx.secret.upsert({
      where: { ownerId_name: { ownerId, name: checkedName } },
      create: { ownerId, name: checkedName, sealed },
      update: { sealed },
    });
    // The name only: a secret's value never reaches the audit log.
    await recordAudit(tx, {
      actorId: ownerId,
      action: existing ? "secret.replace" : "secret.create",
      targetType: "secret",
      targetId: checkedName,
      subjectId: ownerId,
      summary: existing ? `Replaced the value of secret ${checkedName}` : `Created secret ${checkedName}`,
      data: { name: checkedName },
    });
    return { name: checkedName, created: !existing };
  });
}

/** Deletes a secret; NOT_FOUND when the owner has none of that name. Runs that name it fail with SECRET_NOT_FOUND. */
export async function deleteSecret(db: Db, ownerId: string, name: unknown): Promise<void> {
  const checkedName = checkSecretName(name);
  await db.$transaction(async (tx) => {
    const { count } = await tx.secret.deleteMany({ where: { ownerId, name: checkedName } });
    if (!count) throw new OrchestratorError("NOT_FOUND", `name: there is no secret "${checkedName}" to delete`);
    await recordAudit(tx, { actorId: ownerId, action: "secret.delete", targetType: "secret", targetId: checkedName, subjectId: ownerId, summary: `Deleted secret ${checkedName}`, data: { name: checkedName } });
  });
}

/**
 * The values of the secrets a run needs, read on the run path (plain SQL, one query) for the run's owner. Names
 * that are not set, or that cannot be decrypted with the current key, come back as problems: the steps that use
 * them fail with SECRET_NOT_FOUND / SECRET_UNREADABLE, naming the secret and the fix.
 */
export async function resolveRunSecrets(sql: SqlConnection, ownerId: string, names: readonly string[]): Promise<RunSecrets> {
  const wanted = [...new Set(names)].filter((name) => SECRET_NAME_PATTERN.test(name));
  if (!wanted.length) return runSecrets(new Map());
  // More names than a user can have: read all of the owner's (bounded) instead of a list of parameters that long.
  const rows =
    wanted.length > MAX_SECRETS_PER_USER
      ? await sql.queryCommitted<{ name: string; sealed: string }>(`SELECT "name", "sealed" FROM "Secret" WHERE "ownerId" = ?`, [ownerId])
      : await sql.queryCommitted<{ name: string; sealed: string }>(
          `SELECT "name", "sealed" FROM "Secret" WHERE "ownerId" = ? AND "name" IN (${wanted.map(() => "?").join(", ")})`,
          [ownerId, ...wanted],
        );
  const sealedByName = new Map(rows.map((row) => [row.name, row.sealed]));
  const values = new Map<string, string>();
  const problems = new Map<string, SecretProblem>();
  for (const name of wanted) {
    const sealed = sealedByName.get(name);
    if (sealed === undefined) continue; // not set: the default SECRET_NOT_FOUND message
    try {
      values.set(name, decryptSecret(sealed));
    } catch {
      problems.set(name, {
        code: "SECRET_UNREADABLE",
        detail: `secret "${name}" cannot be decrypted with the server's current key (ORCHESTRATOR_SECRET_KEY, or secret.key in the data directory, changed since it was saved): set its value again on the Settings page and resume the run`,
      });
    }
  }
  return runSecrets(values, problems);
}
