import { PrismaBetterSqlite3 } from "@prisma/adapter-better-sqlite3";
import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaClient as PostgresClient } from "./generated/postgres/client";
import { PrismaClient as SqliteClient } from "./generated/sqlite/client";
import { migrateDatabase } from "./migrate";
import { databaseUrl, isPostgresUrl, postgresTarget, sqlitePath } from "./url";

/**
 * The Prisma client for DATABASE_URL: Postgres through @prisma/adapter-pg when the URL starts with postgres,
 * otherwise the embedded SQLite file through @prisma/adapter-better-sqlite3. Both clients are generated from the
 * same models, so they share one API; `Db` is typed as the SQLite one.
 */
export type Db = SqliteClient;

const migrated = new Map<string, Promise<unknown>>();

/** Opens a client, migrating the database first (once per URL per process). */
export async function createDb(url: string = databaseUrl()): Promise<Db> {
  if (!migrated.has(url)) migrated.set(url, migrateDatabase(url).catch((err) => (migrated.delete(url), Promise.reject(err))));
  await migrated.get(url);
  if (isPostgresUrl(url)) {
    const { connectionString, schema } = postgresTarget(url);
    // search_path as well as the adapter's schema: raw SQL (the checkpoint saver) must land in the same schema.
    const options = `-c search_path="${schema.replace(/"/g, '""')}"`;
    return new PostgresClient({ adapter: new PrismaPg({ connectionString, options }, { schema }) }) as unknown as Db;
  }
  // WAL + busy timeout: the server and a CLI process may share the file.
  const client = new SqliteClient({ adapter: new PrismaBetterSqlite3({ url: sqlitePath(url), timeout: 10_000 }) });
  await client.$executeRawUnsafe("PRAGMA journal_mode = WAL");
  await client.$executeRawUnsafe("PRAGMA synchronous = NORMAL");
  return client;
}

const KEY = Symbol.for("llm-orchestrator.db");
type Holder = { [KEY]?: Promise<Db> };

/** One client per process, kept on globalThis (Next bundles modules apart from server.ts). */
export function getDb(): Promise<Db> {
  const holder = globalThis as Holder;
  holder[KEY] ??= createDb().catch((err) => {
    delete holder[KEY];
    throw err;
  });
  return holder[KEY];
}

export async function closeDb() {
  const holder = globalThis as Holder;
  const db = await holder[KEY]?.catch(() => undefined);
  delete holder[KEY];
  await db?.$disconnect();
}

/** The owner before the first-run setup claims it (and the user of installs from before sign-in existed). */
export const LOCAL_USER = { id: "local", email: "local@localhost", name: "Local owner", role: "owner" };

/**
 * The owner's id, creating the placeholder owner on a fresh database: the CLI and the TypeScript API act as the
 * owner unless told otherwise, and the first-run setup gives this user an email and a password.
 */
export async function ensureLocalUser(db: Db): Promise<string> {
  const owner = await db.user.findFirst({ where: { role: "owner" }, select: { id: true } });
  if (owner) return owner.id;
  await db.user.upsert({ where: { id: LOCAL_USER.id }, create: LOCAL_USER, update: { role: "owner" } });
  return LOCAL_USER.id;
}
