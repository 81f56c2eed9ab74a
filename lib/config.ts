import path from "node:path";
import { OrchestratorError } from "@/lib/engine/errors";
import { ensurePrivateDir } from "@/lib/private-files";

/**
 * Where the embedded database, the secret key and run workspaces live (env ORCHESTRATOR_DATA_DIR, default ./data):
 * created 0700; a wider directory, and its database and key files, are tightened the first time (lib/private-files.ts).
 */
export function dataDir(): string {
  const dir = path.resolve(/*turbopackIgnore: true*/ process.env.ORCHESTRATOR_DATA_DIR ?? path.join(process.cwd(), "data"));
  ensurePrivateDir(dir);
  return dir;
}

/**
 * How many runs one process executes at once (env ORCHESTRATOR_CONCURRENCY, default 10). Runs mostly wait (for a
 * model, an HTTP answer, the database); more of them at once also lets their writes share commits.
 */
export function runConcurrency(): number {
  const n = Number(process.env.ORCHESTRATOR_CONCURRENCY ?? 10);
  return Number.isInteger(n) && n > 0 ? n : 10;
}

/**
 * How often a run may be taken over after the process executing it died (env ORCHESTRATOR_MAX_TAKEOVERS, default
 * 3; 0 never resumes a run automatically). Past that the run fails with CRASH_LOOP: it is likely what kills the
 * process. A value that is not a whole number is refused, so a typo does not silently change crash handling.
 */
export function maxTakeovers(): number {
  const raw = process.env.ORCHESTRATOR_MAX_TAKEOVERS?.trim();
  if (!raw) return 3;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n))
    throw new OrchestratorError("INVALID_INPUT", `ORCHESTRATOR_MAX_TAKEOVERS must be a whole number ≥ 0 (how often a crashed run is resumed automatically), not "${raw}"; unset it for the default 3`);
  return n;
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
