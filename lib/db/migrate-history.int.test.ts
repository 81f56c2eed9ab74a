import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { afterAll, expect, it } from "vitest";
import pg from "pg";
import { POSTGRES_BASE_URL, postgresAvailable } from "@/e2e/fixtures/databases";
import { migrateDatabase } from "./migrate";

/** The history migration fills the new Run columns and the search index from what earlier installs stored. */
const dir = mkdtempSync(path.join(tmpdir(), "orchestrator-migrate-history-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const HISTORY = "20261203100000_run_history";

it("backfills trigger, duration, resumes and search documents of existing runs (SQLite)", async () => {
  const all = readdirSync("prisma/migrations").filter((name) => /^\d+_/.test(name)).sort();
  const before = all.slice(0, all.indexOf(HISTORY));
  const root = path.join(dir, "project");
  mkdirSync(path.join(root, "prisma/migrations"), { recursive: true });
  for (const name of before) cpSync(path.join("prisma/migrations", name), path.join(root, "prisma/migrations", name), { recursive: true });
  const file = path.join(dir, "history.db");
  const saved = process.env.ORCHESTRATOR_ROOT;
  process.env.ORCHESTRATOR_ROOT = root;
  try {
    await migrateDatabase(`file:${file}`);
    const db = new Database(file);
    db.exec(`INSERT INTO "User" ("id", "email", "name") VALUES ('u', 'u@localhost', 'u')`);
    const insert = db.prepare(
      `INSERT INTO "Run" ("id", "ownerId", "workflowId", "workflowName", "definition", "status", "source", "input", "error", "parentRunId", "parentStepId", "startedAt", "finishedAt")
       VALUES (?, 'u', 'w', 'W', '{}', 'succeeded', ?, ?, ?, ?, ?, ?, ?)`,
    );
    insert.run("r_web", "web", '{"topic":"Armadillo"}', null, null, null, "2026-11-01T10:00:00.000+00:00", "2026-11-01T10:00:02.500+00:00");
    insert.run("r_cli", "cli", null, '{"code":"HTTP_ERROR","message":"upstream Pangolin"}', null, null, null, null);
    insert.run("r_fork", "web", null, null, "r_web", null, null, null);
    insert.run("r_child", "workflow", null, null, "r_web", "call", null, null);
    insert.run("r_api", "api", null, null, null, null, null, null);
    db.exec(`INSERT INTO "AuditLog" ("id", "actorId", "action", "targetType", "targetId", "createdAt") VALUES
      ('a1', 'u', 'run.resume', 'run', 'r_cli', '2026-11-02T00:00:00.000+00:00'),
      ('a2', 'u', 'run.rewind', 'run', 'r_cli', '2026-11-03T00:00:00.000+00:00'),
      ('a3', 'u', 'run.cancel', 'run', 'r_api', '2026-11-03T00:00:00.000+00:00')`);
    db.close();

    cpSync(path.join("prisma/migrations", HISTORY), path.join(root, "prisma/migrations", HISTORY), { recursive: true });
    expect(await migrateDatabase(`file:${file}`)).toEqual([HISTORY]);
    const upgraded = new Database(file);
    const rows = upgraded.prepare(`SELECT "id", "trigger", "durationMs", "resumeCount", "resumedAt" FROM "Run" ORDER BY "id"`).all();
    expect(rows).toEqual([
      { id: "r_api", trigger: "api", durationMs: null, resumeCount: 0, resumedAt: null },
      { id: "r_child", trigger: "workflow", durationMs: null, resumeCount: 0, resumedAt: null },
      { id: "r_cli", trigger: "cli", durationMs: null, resumeCount: 2, resumedAt: "2026-11-03T00:00:00.000+00:00" },
      { id: "r_fork", trigger: "fork", durationMs: null, resumeCount: 0, resumedAt: null },
      { id: "r_web", trigger: "ui", durationMs: 2500, resumeCount: 0, resumedAt: null },
    ]);
    const search = (text: string) =>
      upgraded.prepare(`SELECT d."runId" FROM "RunSearch" s JOIN "RunSearchDoc" d ON d."docId" = s."rowid" WHERE "RunSearch" MATCH ?`).all(`"${text}"`);
    expect(search("armadillo")).toEqual([{ runId: "r_web" }]);
    expect(search("PANGOLIN")).toEqual([{ runId: "r_cli" }]);
    upgraded.close();
  } finally {
    if (saved === undefined) delete process.env.ORCHESTRATOR_ROOT;
    else process.env.ORCHESTRATOR_ROOT = saved;
  }
});

it.runIf(await postgresAvailable())("backfills the same on Postgres and creates the trigram search index", async () => {
  const all = readdirSync("prisma/postgres/migrations").filter((name) => /^\d+_/.test(name)).sort();
  const before = all.slice(0, all.indexOf(HISTORY));
  const root = path.join(dir, "pg-project");
  mkdirSync(path.join(root, "prisma/postgres/migrations"), { recursive: true });
  for (const name of before) cpSync(path.join("prisma/postgres/migrations", name), path.join(root, "prisma/postgres/migrations", name), { recursive: true });
  const schema = `mh_${Date.now().toString(36)}`;
  const url = `${POSTGRES_BASE_URL}?schema=${schema}`;
  const client = new pg.Client({ connectionString: POSTGRES_BASE_URL, options: `-c search_path="${schema}"` });
  const saved = process.env.ORCHESTRATOR_ROOT;
  process.env.ORCHESTRATOR_ROOT = root;
  try {
    await migrateDatabase(url);
    await client.connect();
    await client.query(`INSERT INTO "User" ("id", "email", "name") VALUES ('u', 'u@localhost', 'u')`);
    const insert = `INSERT INTO "Run" ("id", "ownerId", "workflowId", "workflowName", "definition", "status", "source", "input", "parentRunId", "parentStepId", "startedAt", "finishedAt")
                    VALUES ($1, 'u', 'w', 'W', '{}', 'succeeded', $2, $3, $4, $5, $6, $7)`;
    await client.query(insert, ["r_web", "web", '{"topic":"Armadillo"}', null, null, "2026-11-01T10:00:00.000", "2026-11-01T10:00:02.500"]);
    await client.query(insert, ["r_fork", "cli", null, "r_web", null, null, null]);
    await client.query(`INSERT INTO "AuditLog" ("id", "actorId", "action", "targetType", "targetId", "createdAt") VALUES ('a1', 'u', 'run.rewind', 'run', 'r_web', '2026-11-02T00:00:00.000')`);

    cpSync(path.join("prisma/postgres/migrations", HISTORY), path.join(root, "prisma/postgres/migrations", HISTORY), { recursive: true });
    expect(await migrateDatabase(url)).toEqual([HISTORY]);
    const { rows } = await client.query(`SELECT "id", "trigger", "durationMs", "resumeCount" FROM "Run" ORDER BY "id"`);
    expect(rows).toEqual([
      { id: "r_fork", trigger: "fork", durationMs: null, resumeCount: 0 },
      { id: "r_web", trigger: "ui", durationMs: 2500, resumeCount: 1 },
    ]);
    const { rows: indexes } = await client.query(`SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND indexname = 'Run_search_trgm_idx'`, [schema]);
    expect(indexes).toHaveLength(1);
  } finally {
    if (saved === undefined) delete process.env.ORCHESTRATOR_ROOT;
    else process.env.ORCHESTRATOR_ROOT = saved;
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => {});
    await client.end().catch(() => {});
  }
});
