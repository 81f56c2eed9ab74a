import { mkdirSync } from "node:fs";
import path from "node:path";

/** Where the embedded database, the secret key and run workspaces live (env ORCHESTRATOR_DATA_DIR, default ./data). */
export function dataDir(): string {
  const dir = path.resolve(/*turbopackIgnore: true*/ process.env.ORCHESTRATOR_DATA_DIR ?? path.join(process.cwd(), "data"));
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** How many runs one process executes at once (env ORCHESTRATOR_CONCURRENCY, default 4). */
export function runConcurrency(): number {
  const n = Number(process.env.ORCHESTRATOR_CONCURRENCY ?? 4);
  return Number.isInteger(n) && n > 0 ? n : 4;
}

/**
 * The address callers outside use to reach this app (callback URLs of wait_webhook steps): env
 * ORCHESTRATOR_PUBLIC_URL, default the address the server listens on.
 */
export function publicUrl(): string {
  const configured = process.env.ORCHESTRATOR_PUBLIC_URL;
  if (configured) return configured.replace(/\/+$/, "");
  return `http://${process.env.HOST ?? "127.0.0.1"}:${process.env.PORT ?? 3000}`;
}
