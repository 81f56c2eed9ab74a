// `npm run db:migrate`: applies pending migrations to DATABASE_URL (default: the embedded SQLite file).
import { databaseUrl, migrateDatabase } from "@/lib/db";

const url = databaseUrl();
const applied = await migrateDatabase(url);
console.log(applied.length ? `applied ${applied.join(", ")}` : "database is up to date");
