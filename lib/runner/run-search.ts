import type { SqlConnection, SqlStatement } from "@/lib/db/sql";
import { OrchestratorError } from "@/lib/engine/errors";

/**
 * Full-text search of the run history: a case-insensitive substring of the first SEARCH_BODY_CHARS characters of
 * a run's input, outputs and error (their JSON text). Postgres: a pg_trgm GIN index on that expression (the
 * migration creates it; nothing to keep). SQLite: an FTS5 trigram index (`RunSearch`, document id from
 * `RunSearchDoc`) that the run path refreshes when a run ends or starts waiting (the final row update) — by
 * statements in the run's own write batch, not by triggers, which Prisma's table redefinitions of "Run" would
 * silently drop. Not at creation: indexing costs ~0.25 ms for a small run (~2.7 ms at 32 KB), and the webhook
 * path creates runs by the hundred per second; a run is found once it has ended or waits.
 */
export const SEARCH_BODY_CHARS = 32_768;
export const SEARCH_MIN_CHARS = 3;
export const SEARCH_MAX_CHARS = 200;

/** The indexed text of a run row `r` (the same expression as the migrations' index: keep them equal). */
const BODY = (r: string) =>
  `substr(COALESCE(${r}."input", '') || ' ' || COALESCE(${r}."outputs", '') || ' ' || COALESCE(${r}."error", ''), 1, ${SEARCH_BODY_CHARS})`;

/** SQLite: (re)writes the run's search document from its row, in the batch that changed the row. */
export function searchIndexStatements(dialect: SqlConnection["dialect"], runId: string): SqlStatement[] {
  if (dialect !== "sqlite") return [];
  return [
    { sql: `INSERT INTO "RunSearchDoc" ("runId") VALUES (?) ON CONFLICT ("runId") DO NOTHING`, params: [runId] },
    { sql: `DELETE FROM "RunSearch" WHERE "rowid" = (SELECT "docId" FROM "RunSearchDoc" WHERE "runId" = ?)`, params: [runId] },
    {
      sql: `INSERT INTO "RunSearch" ("rowid", "body") SELECT d."docId", ${BODY("r")} FROM "RunSearchDoc" d JOIN "Run" r ON r."id" = d."runId" WHERE d."runId" = ?`,
      params: [runId],
    },
  ];
}

/** SQLite: indexes every run without a search document (rows written outside the run path, e.g. the bench's seed). */
export function searchBackfillStatements(dialect: SqlConnection["dialect"]): SqlStatement[] {
  if (dialect !== "sqlite") return [];
  return [
    { sql: `INSERT INTO "RunSearchDoc" ("runId") SELECT "id" FROM "Run" WHERE "id" NOT IN (SELECT "runId" FROM "RunSearchDoc")` },
    { sql: `INSERT INTO "RunSearch" ("rowid", "body") SELECT d."docId", ${BODY("r")} FROM "RunSearchDoc" d JOIN "Run" r ON r."id" = d."runId" WHERE d."docId" NOT IN (SELECT "rowid" FROM "RunSearch")` },
  ];
}

/** SQLite: drops the search documents of deleted runs. */
export function searchDeleteStatements(dialect: SqlConnection["dialect"], runIds: string[]): SqlStatement[] {
  if (dialect !== "sqlite" || !runIds.length) return [];
  const marks = runIds.map(() => "?").join(", ");
  return [
    { sql: `DELETE FROM "RunSearch" WHERE "rowid" IN (SELECT "docId" FROM "RunSearchDoc" WHERE "runId" IN (${marks}))`, params: runIds },
    { sql: `DELETE FROM "RunSearchDoc" WHERE "runId" IN (${marks})`, params: runIds },
  ];
}

/** Checks a search text: SEARCH_MIN_CHARS to SEARCH_MAX_CHARS characters (a trigram index needs three). */
export function checkSearchText(text: string): string {
  const trimmed = text.trim();
  if ([...trimmed].length < SEARCH_MIN_CHARS) throw new OrchestratorError("INVALID_INPUT", `search: enter at least ${SEARCH_MIN_CHARS} characters`);
  if ([...trimmed].length > SEARCH_MAX_CHARS) throw new OrchestratorError("INVALID_INPUT", `search: at most ${SEARCH_MAX_CHARS} characters`);
  return trimmed;
}

/**
 * SQLite: a search considers the latest this many matching runs the user can see (by document id: the order they
 * first ended). A common text ("the") matches most runs, and handing all of them to the page's query cost 0.6–1.2 s at
 * 100,000 runs; the newest 2,000 cost ~10–40 ms. Older matches are found by narrowing the text or the dates.
 */
export const SEARCH_MAX_MATCHES = 2_000;

/**
 * The condition on run row `r` that its text contains `text` (checked), any case. `visible` is the user's
 * visibility condition on the run row `v` (null: sees everything), applied before SQLite's match bound.
 */
export function searchCondition(
  dialect: SqlConnection["dialect"],
  r: string,
  text: string,
  visible: { sql: string; params: unknown[] } | null,
): { sql: string; params: unknown[] } {
  if (dialect === "sqlite")
    // A quoted FTS5 string is a phrase: with the trigram tokenizer, the text's trigrams in a row — a substring.
    // FTS5 walks its matches by rowid, newest first, and stops at the bound.
    return {
      sql: `${r}."id" IN (SELECT d."runId" FROM "RunSearch" s JOIN "RunSearchDoc" d ON d."docId" = s."rowid"${visible ? ` JOIN "Run" v ON v."id" = d."runId"` : ""}
              WHERE "RunSearch" MATCH ?${visible ? ` AND ${visible.sql}` : ""} ORDER BY s."rowid" DESC LIMIT ${SEARCH_MAX_MATCHES})`,
      params: [`"${text.replace(/"/g, '""')}"`, ...(visible?.params ?? [])],
    };
  return { sql: `${BODY(r)} ILIKE ? ESCAPE '\\'`, params: [`%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`] };
}
