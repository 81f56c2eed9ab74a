/**
 * `npm run bench -- cli`: start times of the CLI, each next to `node -e 0` measured in the same rounds (these
 * machines are noisy, so the ratio is the figure to compare). Rebuilds dist/cli first, then for each command
 * times the prebuilt CLI (bin/orchestrator.mjs, what `npx orchestrator` runs) and, for comparison, the sources
 * through tsx (what the bin did before the CLI was prebuilt, and its fallback when the build is stale).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

const ROUNDS = Number(process.env.BENCH_CLI_ROUNDS) || 7;
const root = path.resolve(import.meta.dirname, "..");
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

interface Case {
  label: string;
  args: string[];
  goalMs: number;
  /** A fresh data directory per invocation (the run creates and migrates its database). */
  freshData?: boolean;
  check: (stdout: string) => boolean;
}

export async function benchCli() {
  execFileSync(process.execPath, [path.join(root, "scripts/build-cli.mjs")], { stdio: ["ignore", "ignore", "inherit"] });
  const dir = mkdtempSync(path.join(tmpdir(), "orchestrator-bench-cli-"));
  try {
    const oneStep = path.join(dir, "one-step.json");
    writeFileSync(oneStep, JSON.stringify({ id: "one", name: "one", steps: [{ id: "t", type: "transform", config: { output: "{{ input.n + 1 }}" } }] }));
    // The entry the bin had before the CLI was prebuilt: the TypeScript sources through tsx.
    const fromSources = path.join(dir, "from-sources.mjs");
    writeFileSync(
      fromSources,
      `import { register } from ${JSON.stringify(import.meta.resolve("tsx/esm/api"))};\n` +
        `register({ tsconfig: ${JSON.stringify(path.join(root, "tsconfig.json"))} });\n` +
        `await import(${JSON.stringify(path.join(root, "cli/main.ts"))});\n`,
    );
    const entries = { prebuilt: path.join(root, "bin/orchestrator.mjs"), "sources via tsx": fromSources };
    const cases: Case[] = [
      { label: "--help", args: ["--help"], goalMs: 300, check: (out) => out.includes("Usage: orchestrator") },
      { label: "validate examples/simple.json", args: ["validate", path.join(root, "examples/simple.json")], goalMs: 300, check: (out) => out.trim() === "valid" },
      {
        label: "run, 1 transform step, fresh data dir",
        args: ["run", oneStep, "--input", '{"n":1}', "--json"],
        goalMs: 1000,
        freshData: true,
        check: (out) => JSON.parse(out).outputs?.t === 2,
      },
    ];

    let invocation = 0;
    const time = (args: string[], freshData = false, check?: (stdout: string) => boolean) => {
      const dataDir = path.join(dir, `data-${invocation++}`);
      const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: "silent", ORCHESTRATOR_DATA_DIR: freshData ? dataDir : path.join(dir, "data"), NEXT_TELEMETRY_DISABLED: "1" };
      delete env.DATABASE_URL;
      const start = performance.now();
      const res = spawnSync(process.execPath, args, { cwd: dir, env, encoding: "utf8" });
      const ms = performance.now() - start;
      if (check && (res.status !== 0 || !check(res.stdout))) throw new Error(`${args.join(" ")} failed (exit ${res.status}): ${res.stdout}${res.stderr}`);
      if (freshData) rmSync(dataDir, { recursive: true, force: true });
      return ms;
    };

    const baseline: number[] = [];
    const times = new Map<string, number[]>();
    // Warm the file cache once, then interleave everything round by round to spread machine noise.
    for (const entry of Object.values(entries)) time([entry, "--help"]);
    for (let round = 0; round < ROUNDS; round++) {
      baseline.push(time(["-e", "0"]));
      for (const c of cases)
        for (const [name, entry] of Object.entries(entries)) {
          const key = `${c.label}|${name}`;
          times.set(key, [...(times.get(key) ?? []), time([entry, ...c.args], c.freshData, c.check)]);
        }
    }

    const base = median(baseline);
    console.log(`cli start, medians of ${ROUNDS} rounds; node -e 0: ${base.toFixed(0)} ms in the same rounds`);
    for (const c of cases) {
      const cells = Object.keys(entries).map((name) => {
        const ms = median(times.get(`${c.label}|${name}`)!);
        return `${name} ${ms.toFixed(0).padStart(5)} ms (${(ms / base).toFixed(1).padStart(4)}x node -e 0)`;
      });
      console.log(`  ${c.label.padEnd(38)} ${cells.join("   ")}   goal prebuilt <= ${c.goalMs} ms`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
