import { createHash, randomUUID } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import pg from "pg";
import { preparePrivateSqliteFile, PRIVATE_DIR_MODE } from "../private-files";
import { isPostgresUrl, postgresTarget, sqlitePath } from "./url";

/**
 * Applies the migrations in prisma/migrations (SQLite) or prisma/postgres/migrations (Postgres) that the database
 * has not seen, each in its own transaction, recorded in Prisma's `_prisma_migrations` table so Prisma's tools
 * recognise them. Needs no schema engine (runs inside Next, tsx and vitest); concurrent starters are serialised
 * (SQLite: BEGIN IMMEDIATE; Postgres: an advisory lock).
 */

interface Migration {
  name: string;
  sql: string;
  checksum: string;
}

/**
 * The project folder holding prisma/: the nearest one above this file (lib/db in the sources, dist/cli in the
 * prebuilt CLI), so the CLI works from any directory.
 */
function projectRoot(): string {
  if (process.env.ORCHESTRATOR_ROOT) return process.env.ORCHESTRATOR_ROOT;
  for (let dir = path.dirname(fileURLToPath(import.meta.url)), depth = 0; depth < 4; dir = path.dirname(dir), depth++)
    if (existsSync(path.join(dir, "prisma/migrations"))) return dir;
  return process.cwd();
}

function loadMigrations(dir: string): Migration[] {
  if (!existsSync(dir)) throw new Error(`migrations folder ${dir} not found (run from the project directory)`);
  return readdirSync(dir)
    .filter((name) => existsSync(path.join(dir, name, "migration.sql")))
    .sort()
    .map((name) => {
      const sql = readFileSync(path.join(dir, name, "migration.sql"), "utf8");
      return { name, sql, checksum: createHash("sha256").update(sql).digest("hex") };
    });
}

const LEDGER_SQLITE = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
  "id" TEXT PRIMARY KEY NOT NULL, "checksum" TEXT NOT NULL, "finished_at" DATETIME, "migration_name" TEXT NOT NULL,
  "logs" TEXT, "rolled_back_at" DATETIME, "started_at" DATETIME NOT NULL DEFAULT current_timestamp,
  "applied_steps_count" INTEGER UNSIGNED NOT NULL DEFAULT 0)`;

const LEDGER_POSTGRES = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
  "id" VARCHAR(36) PRIMARY KEY NOT NULL, "checksum" VARCHAR(64) NOT NULL, "finished_at" TIMESTAMPTZ,
  "migration_name" VARCHAR(255) NOT NULL, "logs" TEXT, "rolled_back_at" TIMESTAMPTZ,
  "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(), "applied_steps_count" INTEGER NOT NULL DEFAULT 0)`;

export async function migrateDatabase(url: string): Promise<string[]> {
  return isPostgresUrl(url) ? migratePostgres(url) : migrateSqlite(url);
}

function migrateSqlite(url: string): string[] {
  const file = sqlitePath(url);
  mkdirSync(path.dirname(file), { recursive: true, mode: PRIVATE_DIR_MODE });
  preparePrivateSqliteFile(file); // 0600 before SQLite creates it (its -wal and -shm files take its mode)
  const db = new Database(file);
  try {
    db.pragma("journal_mode = WAL");
    db.pragma("busy_timeout = 10000");
    db.exec(LEDGER_SQLITE);
    // Prisma redefines a table (create new, copy, DROP the old one, rename) for most column changes. With
    // foreign keys on, that DROP deletes every row that cascades from the table (all step records and events
    // of every run, for a change to Run); the migration's own `PRAGMA foreign_keys=OFF` is a no-op inside the
    // transaction below, so it is switched off here, outside it, and the keys are checked before each commit.
    db.pragma("foreign_keys = OFF");
    const applied: string[] = [];
    for (const migration of loadMigrations(path.join(projectRoot(), "prisma/migrations"))) {
      db.exec("BEGIN IMMEDIATE");
      try {
        const done = db.prepare(`SELECT 1 FROM "_prisma_migrations" WHERE migration_name = ? AND finished_at IS NOT NULL AND rolled_back_at IS NULL`).get(migration.name);
        if (!done) {
          db.exec(migration.sql);
          const broken = db.pragma("foreign_key_check") as Array<{ table: string; parent: string }>;
          if (broken.length) throw new Error(`it leaves ${broken.length} row(s) of "${broken[0].table}" pointing at missing "${broken[0].parent}" rows`);
          db.prepare(
            `INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name, started_at, applied_steps_count) VALUES (?, ?, ?, ?, ?, 1)`,
          ).run(randomUUID(), migration.checksum, Date.now(), migration.name, Date.now());
          applied.push(migration.name);
        }
        db.exec("COMMIT");
      } catch (err) {
        db.exec("ROLLBACK");
        throw new Error(`migration ${migration.name} failed: ${(err as Error).message}`);
      }
    }
    return applied;
  } finally {
    db.close();
  }
}

async function migratePostgres(url: string): Promise<string[]> {
  const { connectionString, schema } = postgresTarget(url);
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    await client.query("SELECT pg_advisory_lock(hashtext('llm-orchestrator-migrate'))");
    await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema.replace(/"/g, '""')}"`);
    await client.query(`SET search_path TO "${schema.replace(/"/g, '""')}"`);
    await client.query(LEDGER_POSTGRES);
    const applied: string[] = [];
    for (const migration of loadMigrations(path.join(projectRoot(), "prisma/postgres/migrations"))) {
      const done = await client.query(
        `SELECT 1 FROM "_prisma_migrations" WHERE migration_name = $1 AND finished_at IS NOT NULL AND rolled_back_at IS NULL`,
        [migration.name],
      );
      if (done.rowCount) continue;
      await client.query("BEGIN");
      try {
        // Generated migrations create "public"; the tables land in the search_path schema.
        await client.query(migration.sql.replace(/^CREATE SCHEMA IF NOT EXISTS "public";$/m, ""));
        await client.query(
          `INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name, started_at, applied_steps_count) VALUES ($1, $2, now(), $3, now(), 1)`,
          [randomUUID(), migration.checksum, migration.name],
        );
        await client.query("COMMIT");
        applied.push(migration.name);
      } catch (err) {
        await client.query("ROLLBACK");
        throw new Error(`migration ${migration.name} failed: ${(err as Error).message}`);
      }
    }
    return applied;
  } finally {
    await client.query("SELECT pg_advisory_unlock(hashtext('llm-orchestrator-migrate'))").catch(() => {});
    await client.end();
  }
}
