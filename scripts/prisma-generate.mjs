// `npm run db:generate`: derives the Postgres schema from prisma/schema.prisma (only provider and output differ)
// and generates both Prisma clients. Works offline: generating needs no schema engine, so the CLI is pointed at
// /bin/false instead of downloading one.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";

const source = readFileSync("prisma/schema.prisma", "utf8");
const postgres = source
  .replace('provider     = "prisma-client"\n  output       = "../lib/db/generated/sqlite"', 'provider     = "prisma-client"\n  output       = "../../lib/db/generated/postgres"')
  .replace('provider = "sqlite"', 'provider = "postgresql"')
  .replace(/^\/\/ Source of truth[^\n]*\n\/\/[^\n]*\n/, "// GENERATED from prisma/schema.prisma by scripts/prisma-generate.mjs — edit that file, not this one.\n");
if (!postgres.includes('"postgresql"') || !postgres.includes("generated/postgres")) throw new Error("could not derive the Postgres schema");
mkdirSync("prisma/postgres", { recursive: true });
writeFileSync("prisma/postgres/schema.prisma", postgres);

const prismaCli = createRequire(import.meta.url).resolve("prisma/build/index.js");
for (const schema of ["prisma/schema.prisma", "prisma/postgres/schema.prisma"]) {
  execFileSync(process.execPath, [prismaCli, "generate", "--schema", schema], {
    stdio: ["ignore", "ignore", "inherit"],
    env: { ...process.env, PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? "/bin/false", PRISMA_HIDE_UPDATE_MESSAGE: "1" },
  });
}
console.log("Prisma clients generated (sqlite, postgres)");
