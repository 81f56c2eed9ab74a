import { validate } from "@langchain/langgraph-checkpoint-validation";
import { createDb, type Db } from "@/lib/db";
import { postgresAvailable, postgresTestDatabase, sqliteTestDatabase, type TestDatabase } from "@/e2e/fixtures/databases";
import { PrismaCheckpointSaver } from "./prisma-saver";

/**
 * The official LangGraph checkpointer contract suite, against a real SQLite file and the local Postgres.
 * Each checkpointer instance gets a fresh database so `list` sees only its own checkpoints.
 */
const hasPostgres = await postgresAvailable();
const backends: Array<[string, () => TestDatabase]> = [["sqlite", sqliteTestDatabase]];
if (hasPostgres) backends.push(["postgres", postgresTestDatabase]);

for (const [name, makeDatabase] of backends) {
  const open = new Map<PrismaCheckpointSaver, { db: Db; database: TestDatabase }>();
  validate({
    checkpointerName: `PrismaCheckpointSaver (${name})`,
    async createCheckpointer() {
      const database = makeDatabase();
      const db = await createDb(database.url);
      const saver = new PrismaCheckpointSaver(db);
      open.set(saver, { db, database });
      return saver;
    },
    async destroyCheckpointer(saver) {
      const entry = open.get(saver);
      open.delete(saver);
      await entry?.db.$disconnect();
      await entry?.database.drop();
    },
  });
}
