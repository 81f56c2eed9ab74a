import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { POSTGRES_BASE_URL, postgresAvailable, postgresTestDatabase, type TestDatabase } from "@/e2e/fixtures/databases";
import { startTcpProxy } from "@/e2e/fixtures/tcp-proxy";
import { openSql, type SqlConnection } from "./sql";

const available = await postgresAvailable();

describe.skipIf(!available)("the raw Postgres connection (skipped without PostgreSQL at 127.0.0.1:5432)", () => {
  let database: TestDatabase;
  let sql: SqlConnection;
  beforeAll(() => {
    database = postgresTestDatabase();
    sql = openSql(database.url);
  });
  afterAll(async () => {
    await sql.close();
    await database.drop();
  });

  it("outlives the server ending its idle connections (a Postgres restart): no uncaught error, the next query answers", async () => {
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown) => void uncaught.push(err);
    process.on("uncaughtException", onUncaught);
    try {
      // Several idle connections in the pool, then the server ends them all.
      // (A marker in the queries, so that only this pool's connections are ended, not other tests'.)
      const marker = `sql-int-${process.pid}-${Date.now()}`;
      await Promise.all(Array.from({ length: 3 }, () => sql.query(`SELECT pg_sleep(0.05) /* ${marker} */`)));
      const admin = new pg.Client({ connectionString: POSTGRES_BASE_URL });
      await admin.connect();
      const pids = (await admin.query(`SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND query LIKE $1`, [`%/* ${marker} */%`])).rows.map((r) => r.pid as number);
      expect(pids.length).toBeGreaterThan(0);
      for (const id of pids) await admin.query(`SELECT pg_terminate_backend($1)`, [id]);
      await admin.end();
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(uncaught).toEqual([]);
      expect(await sql.query<{ one: number }>(`SELECT 1 AS one`)).toEqual([{ one: 1 }]);
    } finally {
      process.off("uncaughtException", onUncaught);
    }
  });

  it("outlives connections in use dropping mid-transaction (a network cut): the claim fails, the batch waits and goes through, no uncaught error", async () => {
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown) => void uncaught.push(err);
    process.on("uncaughtException", onUncaught);
    const direct = new URL(POSTGRES_BASE_URL);
    const proxy = await startTcpProxy({ host: direct.hostname, port: Number(direct.port || 5432) });
    const throughProxy = new URL(database.url);
    throughProxy.host = `127.0.0.1:${proxy.port}`;
    const cutOff = openSql(throughProxy.toString());
    try {
      const inBatch = cutOff.batch([{ sql: `SELECT 1 FROM pg_sleep(1)` }]).then(() => "done", (err: Error) => err.message);
      const inClaim = cutOff.serialized("probe", `SELECT 1 AS one FROM pg_sleep(1)`).then(() => "done", (err: Error) => err.message);
      await new Promise((resolve) => setTimeout(resolve, 300)); // both in flight on their own connections
      await proxy.cut();
      // The claim fails (not sent again: it may have been applied)...
      expect(await inClaim).not.toBe("done");
      await proxy.restore();
      // ...the batch, a transaction that rolled back with its connection, is tried again whole once Postgres answers...
      expect(await inBatch).toBe("done");
      // ...and the process lives on: the dropped connections' "error" events were heard.
      expect(uncaught).toEqual([]);
      expect(await cutOff.query<{ one: number }>(`SELECT 1 AS one`)).toEqual([{ one: 1 }]);
    } finally {
      process.off("uncaughtException", onUncaught);
      await cutOff.close();
      await proxy.close();
    }
  }, 60_000);
});
