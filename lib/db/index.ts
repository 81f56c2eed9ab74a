export { closeDb, createDb, ensureLocalUser, getDb, LOCAL_USER, type Db } from "./client";
export { migrateDatabase } from "./migrate";
export { databaseUrl } from "./url";
