import { validate } from "@langchain/langgraph-checkpoint-validation";
import { migrateDatabase } from "@/lib/db";
import { openSql, type SqlConnection } from "@/lib/db/sql";
import { postgresAvailable, postgresTestDatabase, sqliteTestDatabase, type TestDatabase } from "@/e2e/fixtures/databases";
import { SqlCheckpointSaver } from "./sql-saver";

/**
 * The official LangGraph checkpointer contract suite, against a real SQLite file and the local Postgres.
 * Each checkpointer instance gets a fresh, migrated database so `list` sees only its own checkpoints.
 */
const hasPostgres = await postgresAvailable();
const backends: Array<[string, () => TestDatabase]> = [["sqlite", sqliteTestDatabase]];
if (hasPostgres) backends.push(["postgres", postgresTestDatabase]);

for (const [name, makeDatabase] of backends) {
  const open = new Map<SqlCheckpointSaver, { sql: SqlConnection; database: TestDatabase }>();
  validate({
    checkpointerName: `SqlCheckpointSaver (${name})`,
    async createCheckpointer() {
      const database = makeDatabase();
      await migrateDatabase(database.url);
      const sql = openSql(database.url);
      const saver = new SqlCheckpointSaver(sql);
      open.set(saver, { sql, database });
      return saver;
    },
    async destroyCheckpointer(saver) {
      const entry = open.get(saver);
      open.delete(saver);
      await entry?.sql.close();
      await entry?.database.drop();
    },
  });
}
