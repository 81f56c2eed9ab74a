import path from "node:path";
import { dataDir } from "@/lib/config";

/** DATABASE_URL, or the embedded SQLite file in the data directory. */
export function databaseUrl(): string {
  return process.env.DATABASE_URL || `file:${path.join(dataDir(), "orchestrator.db")}`;
}

export const isPostgresUrl = (url: string) => /^postgres(ql)?:/i.test(url);

/** The SQLite file path of a `file:` URL (relative paths are relative to the working directory). */
export function sqlitePath(url: string): string {
  const file = url.replace(/^file:/, "").replace(/\?.*$/, "");
  return path.resolve(file);
}

/** Splits a Postgres URL into the connection string and the `?schema=` Prisma convention (default public). */
export function postgresTarget(url: string): { connectionString: string; schema: string } {
  const parsed = new URL(url);
  const schema = parsed.searchParams.get("schema") ?? "public";
  parsed.searchParams.delete("schema");
  return { connectionString: parsed.toString(), schema };
}
