// `npm run build:cli`: bundles cli/main.ts into dist/cli/*.mjs (ESM, Node 20) so `orchestrator` starts without
// compiling TypeScript. npm packages stay external (resolved from node_modules at run time); our own modules,
// including the generated Prisma client, are bundled. Code splitting turns every `import()` in cli/main.ts into a
// chunk of its own, so the engine, database and LangGraph load only in the commands that need them.
// Also writes dist/cli/manifest.json (size and mtime of every bundled source), which bin/orchestrator.mjs checks
// to notice a build older than the sources.
import { copyFileSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const outdir = path.join(root, "dist/cli");

try {
  statSync(path.join(root, "lib/db/generated/sqlite/client.ts"));
} catch {
  console.error("build:cli: the Prisma client is not generated yet; run `npm run db:generate` first");
  process.exit(1);
}

rmSync(outdir, { recursive: true, force: true });
const result = await build({
  absWorkingDir: root,
  entryPoints: { main: "cli/main.ts" },
  outdir,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  packages: "external",
  outExtension: { ".js": ".mjs" },
  // Flat: every chunk sits in dist/cli, so `new URL("../x", import.meta.url)` means the same from all of them.
  chunkNames: "[name]-[hash]",
  tsconfig: "tsconfig.json", // the `@/` alias
  metafile: true,
  logLevel: "warning",
});

const inputs = {};
for (const file of Object.keys(result.metafile.inputs)) {
  const { size, mtimeMs } = statSync(path.join(root, file));
  inputs[file] = { size, mtimeMs };
}

// Files our modules load at run time through `new URL("<relative>", import.meta.url)` (the QuickJS worker) are
// copied to the same relative place next to the chunk that now holds the module.
const ASSET = /new URL\(\s*["'](\.{1,2}\/[^"']+)["']\s*,\s*import\.meta\.url\s*\)/g;
const assets = [];
for (const [output, { inputs: parts }] of Object.entries(result.metafile.outputs)) {
  for (const input of Object.keys(parts)) {
    if (input.startsWith("node_modules/")) continue;
    for (const [, relative] of readFileSync(path.join(root, input), "utf8").matchAll(ASSET)) {
      const source = path.resolve(root, path.dirname(input), relative);
      const target = path.resolve(root, path.dirname(output), relative);
      if (!target.startsWith(path.join(root, "dist") + path.sep)) throw new Error(`${input}: asset ${relative} would land outside dist/`);
      copyAsset(source, target);
    }
  }
}

/** Copies a run-time asset, and the relative modules it imports (a worker's own modules), beside it. */
function copyAsset(source, target) {
  if (assets.includes(path.relative(root, target))) return;
  mkdirSync(path.dirname(target), { recursive: true });
  copyFileSync(source, target);
  const { size, mtimeMs } = statSync(source);
  inputs[path.relative(root, source)] = { size, mtimeMs };
  assets.push(path.relative(root, target));
  if (!/\.m?js$/.test(source)) return;
  for (const [, relative] of readFileSync(source, "utf8").matchAll(/(?:from|import)\s*\(?\s*["'](\.{1,2}\/[^"']+)["']/g))
    copyAsset(path.resolve(path.dirname(source), relative), path.resolve(path.dirname(target), relative));
}

writeFileSync(path.join(outdir, "manifest.json"), `${JSON.stringify({ builtAt: new Date().toISOString(), assets, inputs }, null, 1)}\n`);
console.log(`CLI built: ${Object.keys(result.metafile.outputs).length} files in dist/cli (${Object.keys(inputs).length} sources, assets: ${assets.join(", ") || "none"})`);
