import Database from "better-sqlite3";
import pg from "pg";
import { isConnectionError, neverReachedServer, withDbRetry } from "./outage";
import { logger } from "../logger";
import { preparePrivateSqliteFile } from "../private-files";
import { isPostgresUrl, postgresTarget, sqlitePath } from "./url";

/**
 * A thin SQL connection for the hot paths (checkpoints after every superstep, the run event log), where a
 * round trip through the ORM per row costs more than the step itself. Statements use `?` placeholders and SQL
 * that SQLite and Postgres both accept (`ON CONFLICT … DO …`); everything else goes through Prisma.
 */
export interface SqlStatement {
  sql: string;
  params?: unknown[];
}

export interface SqlConnection {
  readonly dialect: "sqlite" | "postgres";
  /** Reads after committing this connection's pending writes (a read sees the writes asked for before it). */
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /**
   * Reads what is committed, leaving pending writes to their batch: for reads of rows those writes cannot
   * concern (settings, hooks, a run row whose writer has awaited them, checkpoints, whose writers await every
   * put). A read that forced a commit would split the group commit of every run writing in this turn.
   */
  queryCommitted<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Runs the statements in one transaction, in order. */
  batch(statements: SqlStatement[]): Promise<void>;
  /**
   * Runs one statement (a conditional update that reads other rows: a concurrency slot's claim) so that no other
   * `serialized` statement with the same key runs between its reads and its write: on Postgres in a transaction
   * holding an advisory lock on the key (READ COMMITTED would let two claims each see the other's slot free);
   * SQLite runs a statement alone anyway (one writer, the statement takes the write lock before it reads).
   */
  serialized<T = Record<string, unknown>>(lockKey: string, sql: string, params?: unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

/** `?` → `$1, $2 …` for Postgres (our statements never contain `?` inside literals). */
function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

/**
 * SQLite has no Date or boolean type: store dates as the text Prisma writes (ISO with "+00:00"), so raw rows and
 * Prisma's rows sort and compare alike.
 */
function sqliteParam(value: unknown): unknown {
  if (value instanceof Date) return `${value.toISOString().slice(0, -1)}+00:00`;
  if (typeof value === "boolean") return value ? 1 : 0;
  if (value === undefined) return null;
  return value;
}

export function openSql(url: string): SqlConnection {
  if (isPostgresUrl(url)) {
    const { connectionString, schema } = postgresTarget(url);
    const pool = new pg.Pool({ connectionString, options: `-c search_path="${schema.replace(/"/g, '""')}"`, max: 5 });
    // An idle connection the server ends (a restart, a terminated backend) is reported here; unhandled, it would be
    // an uncaught exception that kills the process. The pool drops that connection and opens a new one when asked.
    pool.on("error", (err) => logger.warn({ err: err.message }, "an idle Postgres connection was closed by the server; the pool replaces it"));
    // Postgres briefly unreachable: reads, and statements that never reached it, wait with back-off (outage.ts);
    // a write whose connection broke mid-way is not sent again (it may have been applied).
    const isRead = (sql: string) => /^\s*SELECT\b/i.test(sql);
    const query = <T>(sql: string, params: unknown[] = []) =>
      withDbRetry(async () => (await pool.query(numbered(sql), params)).rows as T[], (err) => isConnectionError(err) && (isRead(sql) || neverReachedServer(err)));
    return {
      dialect: "postgres",
      query,
      queryCommitted: query,
      // A batch is one transaction: broken off, it rolled back, so it is tried again whole.
      batch: (statements) => withDbRetry(() => runBatch(statements)),
      async serialized<T>(lockKey: string, sql: string, params: unknown[] = []) {
        const client = await checkout();
        let broken: unknown;
        try {
          await client.query("BEGIN");
          // Released at COMMIT/ROLLBACK; the statement after it takes its snapshot once the lock is held.
          await client.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [lockKey]);
          const { rows } = await client.query(numbered(sql), params);
          await client.query("COMMIT");
          return rows as T[];
        } catch (err) {
          if (isConnectionError(err)) broken = err;
          else await client.query("ROLLBACK").catch(() => {});
          throw err;
        } finally {
          client.release(broken instanceof Error ? broken : undefined);
        }
      },
      close: () => pool.end(),
    };
    /**
     * A connection taken from the pool for a transaction. While it is out, the pool does not listen for its errors:
     * a connection that drops (Postgres restarting, a network cut) emits "error" besides failing its query, and
     * unheard that event is an uncaught exception that kills the process. Heard here while it is out (the query's
     * own failure is what the caller handles).
     */
    async function checkout() {
      const client = await pool.connect();
      const onError = (err: Error) => logger.debug({ err: err.message }, "a Postgres connection in use broke");
      client.on("error", onError);
      const release = client.release;
      client.release = (err?: Error | boolean) => {
        client.off("error", onError);
        return release.call(client, err);
      };
      return client;
    }
    async function runBatch(statements: SqlStatement[]) {
      if (!statements.length) return;
      const client = await checkout();
      let broken: unknown;
      try {
        await client.query("BEGIN");
        for (const s of statements) await client.query(numbered(s.sql), s.params ?? []);
        await client.query("COMMIT");
      } catch (err) {
        if (isConnectionError(err)) broken = err;
        else await client.query("ROLLBACK").catch(() => {});
        throw err;
      } finally {
        // A connection that broke goes, instead of back to the pool for the next statement to fail on.
        client.release(broken instanceof Error ? broken : undefined);
      }
    }
  }

  preparePrivateSqliteFile(sqlitePath(url));
  const db = new Database(sqlitePath(url), { timeout: 10_000 });
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  const cache = new Map<string, Database.Statement>();
  const prepare = (sql: string) => {
    let statement = cache.get(sql);
    if (!statement) cache.set(sql, (statement = db.prepare(sql)));
    return statement;
  };
  const runBatch = db.transaction((statements: SqlStatement[]) => {
    for (const s of statements) prepare(s.sql).run(...(s.params ?? []).map(sqliteParam));
  });

  // Batches asked for within one turn of the event loop commit together: a superstep's task writes, its
  // checkpoint and the run's events touch the same pages, and each commit rewrites them to the WAL.
  let open: { statements: SqlStatement[][]; waiters: Array<{ resolve(): void; reject(err: unknown): void }> } | null = null;
  const commit = () => {
    const current = open;
    if (!current) return;
    open = null;
    try {
      runBatch(current.statements.flat());
      current.waiters.forEach((w) => w.resolve());
    } catch {
      // One bad statement must not fail the others' writes: retry each caller's batch on its own.
      current.statements.forEach((statements, i) => {
        try {
          runBatch(statements);
          current.waiters[i].resolve();
        } catch (err) {
          current.waiters[i].reject(err);
        }
      });
    }
  };
  return {
    dialect: "sqlite",
    async query<T>(sql: string, params: unknown[] = []) {
      if (open) commit(); // read your own writes
      return prepare(sql).all(...params.map(sqliteParam)) as T[];
    },
    async queryCommitted<T>(sql: string, params: unknown[] = []) {
      return prepare(sql).all(...params.map(sqliteParam)) as T[];
    },
    async serialized<T>(_lockKey: string, sql: string, params: unknown[] = []) {
      if (open) commit(); // the rows it reads may be in this turn's pending writes
      return prepare(sql).all(...params.map(sqliteParam)) as T[];
    },
    batch(statements) {
      if (!statements.length) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        if (!open) {
          open = { statements: [], waiters: [] };
          setImmediate(commit);
        }
        open.statements.push(statements);
        open.waiters.push({ resolve, reject });
      });
    },
    async close() {
      commit();
      db.close();
    },
  };
}
