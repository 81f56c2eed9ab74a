import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { afterAll, expect, it } from "vitest";
import { migrateDatabase } from "./migrate";

/**
 * Upgrading a SQLite database that holds runs: Prisma migrations that redefine a table (copy, DROP, rename)
 * must not cascade the DROP to the rows that reference it (every step record and event of every run).
 */
const dir = mkdtempSync(path.join(tmpdir(), "orchestrator-migrate-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it("applying every later migration to a database with runs keeps their step records and events", async () => {
  const all = readdirSync("prisma/migrations").filter((name) => /^\d+_/.test(name)).sort();
  const root = path.join(dir, "project");
  mkdirSync(path.join(root, "prisma/migrations"), { recursive: true });
  cpSync(path.join("prisma/migrations", all[0]), path.join(root, "prisma/migrations", all[0]), { recursive: true });
  const url = `file:${path.join(dir, "upgrade.db")}`;
  const saved = process.env.ORCHESTRATOR_ROOT;
  process.env.ORCHESTRATOR_ROOT = root;
  try {
    expect(await migrateDatabase(url)).toEqual([all[0]]);
    const db = new Database(path.join(dir, "upgrade.db"));
    db.exec(`INSERT INTO "User" ("id", "email", "name") VALUES ('u', 'u@localhost', 'u')`);
    db.exec(`INSERT INTO "Run" ("id", "ownerId", "workflowId", "workflowName", "definition", "status") VALUES ('r', 'u', 'w', 'W', '{}', 'succeeded')`);
    db.exec(`INSERT INTO "StepRun" ("id", "runId", "stepId", "stepType", "execution", "status") VALUES ('s', 'r', 'a', 'transform', 1, 'succeeded')`);
    db.exec(`INSERT INTO "RunEvent" ("runId", "seq", "type", "payload") VALUES ('r', 1, 'run.status', '{}')`);
    db.close();

    for (const name of all.slice(1)) cpSync(path.join("prisma/migrations", name), path.join(root, "prisma/migrations", name), { recursive: true });
    expect(await migrateDatabase(url)).toEqual(all.slice(1));

    const upgraded = new Database(path.join(dir, "upgrade.db"));
    const count = (table: string) => (upgraded.prepare(`SELECT COUNT(*) AS n FROM "${table}"`).get() as { n: number }).n;
    expect([count("Run"), count("StepRun"), count("RunEvent")]).toEqual([1, 1, 1]);
    expect(upgraded.prepare(`SELECT "takeovers" FROM "Run" WHERE "id" = 'r'`).get()).toEqual({ takeovers: 0 });
    expect(upgraded.pragma("foreign_key_check")).toEqual([]);
    upgraded.close();
  } finally {
    if (saved === undefined) delete process.env.ORCHESTRATOR_ROOT;
    else process.env.ORCHESTRATOR_ROOT = saved;
  }
});
