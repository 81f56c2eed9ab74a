import { chmodSync, closeSync, mkdirSync, openSync, statSync } from "node:fs";
import path from "node:path";
import { logger } from "@/lib/logger";

/**
 * The data directory holds the database (every workflow, run input and output), the secret key that decrypts
 * stored API keys, and run workspaces: only the user running the server may read it. The directory is kept at
 * 0700 and the files at 0600; ones found wider (made by an older version, a copy, a umask of 022) are tightened
 * with a log line saying so.
 */

export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/** Files of the data directory tightened whenever it is prepared (they may predate this code). */
export const KNOWN_PRIVATE_FILES = ["secret.key", "orchestrator.db", "orchestrator.db-wal", "orchestrator.db-shm", "orchestrator.db-journal"];

const octal = (mode: number) => `0${(mode & 0o777).toString(8)}`;

/**
 * Gives `target` no more than `mode` (group and others lose what `mode` does not grant); logs what changed.
 * Returns whether it did. A file that is not there, or not ours to change, is left as it is (logged).
 */
export function tightenMode(target: string, mode: number): boolean {
  let current: number;
  try {
    current = statSync(target).mode & 0o777;
  } catch {
    return false; // not there (yet)
  }
  if ((current & ~mode) === 0) return false;
  try {
    chmodSync(target, current & mode);
    logger.warn({ path: target, from: octal(current), to: octal(current & mode) }, "tightened the permissions of a data file (only this user may read it)");
    return true;
  } catch (err) {
    logger.warn({ path: target, mode: octal(current), err }, "could not tighten the permissions of a data file; make it readable by this user only");
    return false;
  }
}

const prepared = new Set<string>();

/** Creates the directory (0700) when missing; the first time per process, tightens it and the known files in it. */
export function ensurePrivateDir(dir: string) {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  if (prepared.has(dir)) return;
  prepared.add(dir);
  tightenMode(dir, PRIVATE_DIR_MODE);
  for (const name of KNOWN_PRIVATE_FILES) tightenMode(path.join(dir, name), PRIVATE_FILE_MODE);
}

/**
 * A SQLite database file about to be opened: created empty at 0600 when missing (SQLite gives its -wal, -shm and
 * journal files the database file's mode), existing ones tightened.
 */
export function preparePrivateSqliteFile(file: string) {
  try {
    closeSync(openSync(file, "a", PRIVATE_FILE_MODE));
  } catch {
    return; // the directory is missing or not writable: opening the database says so
  }
  for (const suffix of ["", "-wal", "-shm", "-journal"]) tightenMode(`${file}${suffix}`, PRIVATE_FILE_MODE);
}
