import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { dataDir } from "@/lib/config";
import { createDb } from "@/lib/db";
import { databaseUrl } from "@/lib/db/url";
import { openSql } from "@/lib/db/sql";
import { logger } from "@/lib/logger";
import { encryptSecret } from "@/lib/secrets";

/** The data directory, the SQLite files and the secret key file, as a server start makes or finds them. */
const root = mkdtempSync(path.join(tmpdir(), "private-files-"));
const saved = { dir: process.env.ORCHESTRATOR_DATA_DIR, url: process.env.DATABASE_URL, key: process.env.ORCHESTRATOR_SECRET_KEY };
afterEach(() => {
  process.env.ORCHESTRATOR_DATA_DIR = saved.dir;
  process.env.DATABASE_URL = saved.url;
  process.env.ORCHESTRATOR_SECRET_KEY = saved.key;
  vi.restoreAllMocks();
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const mode = (file: string) => statSync(file).mode & 0o777;

/** A start of the embedded setup: the data directory, the database (migrated, WAL) through both clients, the key. */
async function start(dir: string) {
  process.env.ORCHESTRATOR_DATA_DIR = dir;
  process.env.DATABASE_URL = "";
  delete process.env.ORCHESTRATOR_SECRET_KEY;
  const url = databaseUrl();
  const db = await createDb(url);
  const sql = openSql(url);
  await db.setting.create({ data: { key: "k", value: "v" } }); // writes: the -wal and -shm files exist
  encryptSecret("x");
  return { url, close: async () => (await db.$disconnect(), await sql.close()) };
}

describe("private data files", () => {
  it("creates the data directory 0700 and the database, its WAL files and the secret key 0600", async () => {
    const dir = path.join(root, "fresh", "data");
    const { close } = await start(dir);
    try {
      expect(dataDir()).toBe(dir);
      expect(mode(dir)).toBe(0o700);
      for (const name of ["orchestrator.db", "orchestrator.db-wal", "orchestrator.db-shm", "secret.key"]) expect(mode(path.join(dir, name)), name).toBe(0o600);
    } finally {
      await close();
    }
  });

  it("tightens a data directory and files made wider before, saying so in the log", async () => {
    const dir = path.join(root, "old");
    mkdirSync(dir, { mode: 0o755 });
    chmodSync(dir, 0o755);
    writeFileSync(path.join(dir, "secret.key"), Buffer.alloc(32, 7).toString("base64"));
    chmodSync(path.join(dir, "secret.key"), 0o644);
    // An existing database from an earlier start, world-readable.
    process.env.ORCHESTRATOR_DATA_DIR = path.join(root, "scratch");
    const earlier = await createDb(`file:${path.join(dir, "orchestrator.db")}`);
    await earlier.$disconnect();
    for (const name of ["orchestrator.db", "orchestrator.db-wal", "orchestrator.db-shm"]) {
      try {
        chmodSync(path.join(dir, name), 0o664);
      } catch {
        /* WAL files are gone after a clean close */
      }
    }
    const warn = vi.spyOn(logger, "warn");
    const { close } = await start(dir);
    try {
      expect(mode(dir)).toBe(0o700);
      for (const name of ["orchestrator.db", "orchestrator.db-wal", "orchestrator.db-shm", "secret.key"]) expect(mode(path.join(dir, name)), name).toBe(0o600);
      const tightened = warn.mock.calls.filter(([, message]) => String(message).startsWith("tightened the permissions"));
      expect(tightened.map(([fields]) => fields)).toEqual(
        expect.arrayContaining([
          { path: dir, from: "0755", to: "0700" },
          { path: path.join(dir, "secret.key"), from: "0644", to: "0600" },
          { path: path.join(dir, "orchestrator.db"), from: "0664", to: "0600" },
        ]),
      );
    } finally {
      await close();
    }
  });
});
