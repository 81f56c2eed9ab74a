import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { dataDir } from "./config";
import { PRIVATE_FILE_MODE, tightenMode } from "./private-files";

/**
 * Secrets at rest are AES-256-GCM encrypted. The key comes from env ORCHESTRATOR_SECRET_KEY (any string, hashed
 * to 32 bytes) or, for the embedded single-machine setup, a random key file created once in the data directory.
 */
let cachedKey: Buffer | undefined;

function key(): Buffer {
  if (cachedKey) return cachedKey;
  const fromEnv = process.env.ORCHESTRATOR_SECRET_KEY;
  if (fromEnv) return (cachedKey = createHash("sha256").update(fromEnv).digest());
  const file = path.join(dataDir(), "secret.key");
  if (!existsSync(file)) {
    try {
      writeFileSync(file, randomBytes(32).toString("base64"), { mode: PRIVATE_FILE_MODE, flag: "wx" });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err; // another process made it first: use theirs
    }
  } else tightenMode(file, PRIVATE_FILE_MODE);
  return (cachedKey = Buffer.from(readFileSync(file, "utf8").trim(), "base64"));
}

export function encryptSecret(plain: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", key(), iv);
  const body = Buffer.concat([cipher.update(plain, "utf8"), cipher.final()]);
  return ["v1", iv.toString("base64"), cipher.getAuthTag().toString("base64"), body.toString("base64")].join(":");
}

export function decryptSecret(sealed: string): string {
  const [version, iv, tag, body] = sealed.split(":");
  if (version !== "v1" || !iv || !tag || body === undefined) throw new Error("unrecognised secret format");
  const decipher = createDecipheriv("aes-256-gcm", key(), Buffer.from(iv, "base64"));
  decipher.setAuthTag(Buffer.from(tag, "base64"));
  return Buffer.concat([decipher.update(Buffer.from(body, "base64")), decipher.final()]).toString("utf8");
}

/**
 * An unguessable token bound to `data` (callback URLs of waiting steps): HMAC-SHA256 under a key derived from
 * the secret key, so it can be checked later without storing it.
 */
export function signToken(purpose: string, data: string): string {
  const derived = createHash("sha256").update(key()).update(`token:${purpose}`).digest();
  return createHmac("sha256", derived).update(data).digest("base64url");
}

/** Compares two secrets in constant time (a different length is simply unequal). */
export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/** A secret for another library (the sign-in cookies' signing key) derived from the secret key, stable across restarts. */
export function derivedSecret(purpose: string): string {
  return createHash("sha256").update(key()).update(`secret:${purpose}`).digest("base64url");
}
