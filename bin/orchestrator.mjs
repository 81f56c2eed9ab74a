#!/usr/bin/env node
// Entry of `npx orchestrator`. Runs the prebuilt CLI in dist/cli (`npm run build:cli`, part of `npm run setup` and
// `npm test`), which starts in a fraction of the time TypeScript through tsx takes. Before loading it, checks the
// build against dist/cli/manifest.json (size and mtime of every source it was built from):
// - built and current: runs dist/cli/main.mjs;
// - missing or older than the sources (a developer edited them), but the sources can run: runs cli/main.ts
//   through tsx, after one line on stderr saying so;
// - not set up (no build and no generated Prisma client, e.g. after a plain `npm install`): one line telling to
//   run `npm run setup`, exit 2.
// Never a stack trace: whatever fails while loading is one line and exit 2.
import { existsSync, readFileSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const fromRoot = (file) => fileURLToPath(new URL(`../${file}`, import.meta.url));
process.env.NEXT_TELEMETRY_DISABLED ??= "1";

function fail(message) {
  process.stderr.write(`orchestrator: ${message}\n`);
  process.exit(2);
}

/** "current", or why the prebuilt CLI cannot be used. */
function buildState() {
  let manifest;
  try {
    manifest = JSON.parse(readFileSync(fromRoot("dist/cli/manifest.json"), "utf8"));
  } catch {
    return "missing";
  }
  if (!existsSync(fromRoot("dist/cli/main.mjs"))) return "missing";
  for (const [file, built] of Object.entries(manifest.inputs ?? {})) {
    const now = statSync(fromRoot(file), { throwIfNoEntry: false });
    if (!now || now.size !== built.size || now.mtimeMs !== built.mtimeMs) return "stale";
  }
  return "current";
}

function sourcesCanRun() {
  if (!existsSync(fromRoot("lib/db/generated/sqlite/client.ts")) || !existsSync(fromRoot("lib/db/generated/postgres/client.ts"))) return false;
  try {
    import.meta.resolve("tsx/esm/api");
    return true;
  } catch {
    return false;
  }
}

const state = buildState();
try {
  if (state === "current") {
    await import("../dist/cli/main.mjs");
  } else if (sourcesCanRun()) {
    process.stderr.write(
      `orchestrator: the prebuilt CLI is ${state === "missing" ? "missing" : "older than the sources"}; running the sources through tsx (slow start). \`npm run build:cli\` rebuilds it.\n`,
    );
    const { register } = await import("tsx/esm/api");
    register({ tsconfig: fromRoot("tsconfig.json") });
    await import("../cli/main.ts");
  } else {
    fail(`not set up yet: run \`npm run setup\` in ${root.replace(/\/$/, "")} (it builds the CLI and generates the database client)`);
  }
} catch (err) {
  fail(`cannot load the CLI (${err?.message?.split("\n")[0] ?? err}); run \`npm run setup\``);
}
