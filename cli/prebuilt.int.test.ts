import { execFile } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/**
 * The bin in a copy of the project (sources, prisma/, the real node_modules linked in), taken through the states
 * a checkout goes through: a plain `npm install` (nothing built, no Prisma client), built by `npm run build:cli`,
 * and sources edited after the build. Module loads are recorded by a resolve hook, so "--help does not load the
 * engine" is checked, not timed.
 */
const run = promisify(execFile);
const repo = path.resolve(".");

let project: string;
let work: string;
let moduleLog: string;
let hooks: string;

beforeAll(() => {
  project = mkdtempSync(path.join(tmpdir(), "orchestrator-prebuilt-"));
  work = path.join(project, "elsewhere"); // the CLI is started from another directory, as users do
  mkdirSync(work);
  for (const entry of ["package.json", "tsconfig.json", "bin", "cli", "scripts", "prisma", "examples"]) cpSync(path.join(repo, entry), path.join(project, entry), { recursive: true });
  cpSync(path.join(repo, "lib"), path.join(project, "lib"), { recursive: true, filter: (src) => !src.includes(`${path.sep}generated`) });
  symlinkSync(realpathSync(path.join(repo, "node_modules")), path.join(project, "node_modules"));
  writeFileSync(path.join(work, "one.json"), JSON.stringify({ id: "one", name: "one", steps: [{ id: "t", type: "transform", config: { output: "{{ input.n + 1 }}" } }] }));

  moduleLog = path.join(project, "modules.log");
  hooks = path.join(project, "log-modules.mjs");
  writeFileSync(
    hooks,
    `import { appendFileSync } from "node:fs";
let log;
export function initialize(data) { log = data.log; }
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  appendFileSync(log, result.url + "\\n");
  return result;
}
`,
  );
});
afterAll(() => rmSync(project, { recursive: true, force: true }));

async function cli(args: string[], options: { logModules?: boolean } = {}) {
  rmSync(moduleLog, { force: true });
  writeFileSync(moduleLog, "");
  const register = `import { register } from "node:module"; register(${JSON.stringify(pathToFileURL(hooks).href)}, { data: { log: ${JSON.stringify(moduleLog)} } });`;
  const nodeArgs = [...(options.logModules ? ["--import", `data:text/javascript,${encodeURIComponent(register)}`] : []), path.join(project, "bin/orchestrator.mjs"), ...args];
  const env: NodeJS.ProcessEnv = { ...process.env, ORCHESTRATOR_DATA_DIR: path.join(project, "data"), LOG_LEVEL: "silent" };
  delete env.DATABASE_URL;
  let result: { code: number; stdout: string; stderr: string };
  try {
    const { stdout, stderr } = await run(process.execPath, nodeArgs, { cwd: work, env });
    result = { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    result = { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
  return { ...result, modules: readFileSync(moduleLog, "utf8").split("\n").filter(Boolean) };
}

const HEAVY = /node_modules\/(@langchain\/|@prisma\/|better-sqlite3\/|pg\/|undici\/)/;
const STACK_LINE = /^\s+at /m;

describe("prebuilt CLI", { timeout: 120_000 }, () => {
  it("after a plain npm install (no build, no Prisma client) says in one line to run npm run setup and exits 2", async () => {
    for (const args of [["--help"], ["validate", path.join(project, "examples/simple.json")], ["run", "one.json"]]) {
      const res = await cli(args);
      expect(res.code).toBe(2);
      expect(res.stdout).toBe("");
      expect(res.stderr).toMatch(/^orchestrator: not set up yet: run `npm run setup` in .+\n$/);
      expect(res.stderr.trim().split("\n")).toHaveLength(1);
      expect(res.stderr).not.toMatch(STACK_LINE);
    }
  });

  it("built: --help loads commander only, validate the pure workflow model; run loads the engine and works", async () => {
    cpSync(path.join(repo, "lib/db/generated"), path.join(project, "lib/db/generated"), { recursive: true });
    await run(process.execPath, [path.join(project, "scripts/build-cli.mjs")], { cwd: work });

    const help = await cli(["--help"], { logModules: true });
    expect(help).toMatchObject({ code: 0, stderr: "" });
    expect(help.stdout).toContain("Usage: orchestrator");
    expect(help.modules).toContain(pathToFileURL(path.join(project, "dist/cli/main.mjs")).href);
    expect(help.modules.filter((url) => url.includes("/node_modules/")).every((url) => url.includes("/node_modules/commander/"))).toBe(true);
    expect(help.modules.some((url) => url.endsWith(".ts"))).toBe(false); // not the sources through tsx

    const validate = await cli(["validate", path.join(project, "examples/simple.json")], { logModules: true });
    expect(validate).toMatchObject({ code: 0, stdout: "valid\n", stderr: "" });
    expect(validate.modules.some((url) => url.includes("/node_modules/jsonata/"))).toBe(true);
    expect(validate.modules.filter((url) => HEAVY.test(url))).toEqual([]);

    // Against a server (none listens on port 9 here) a command loads the REST client, not the engine or a database.
    const remote = await cli(["run", "one.json", "--server", "http://127.0.0.1:9", "--token", "orc_x", "--input", '{"n":1}'], { logModules: true });
    expect(remote).toMatchObject({ code: 1, stdout: "" });
    expect(remote.stderr).toMatch(/^error: cannot reach the server http:\/\/127\.0\.0\.1:9 .*\n$/);
    expect(remote.modules.some((url) => /\/dist\/cli\/remote-[\w-]+\.mjs$/.test(url))).toBe(true);
    expect(remote.modules.filter((url) => HEAVY.test(url))).toEqual([]);

    // The same check sees the engine when a command does load it.
    const oneStep = await cli(["run", "one.json", "--input", '{"n":1}', "--json"], { logModules: true });
    expect(oneStep.code).toBe(0);
    expect(JSON.parse(oneStep.stdout)).toMatchObject({ status: "succeeded", outputs: { t: 2 } });
    expect(oneStep.modules.some((url) => url.includes("/node_modules/@langchain/langgraph/"))).toBe(true);
    expect(oneStep.modules.some((url) => url.includes("/node_modules/@prisma/client/"))).toBe(true);
  });

  it("a build older than the sources: runs the sources through tsx after one line saying so, with the edit in effect", async () => {
    const main = path.join(project, "cli/main.ts");
    writeFileSync(main, readFileSync(main, "utf8").replace("check a workflow definition without running it", "check a definition (edited after the build)"));
    const res = await cli(["validate", "--help"]);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain("check a definition (edited after the build)");
    expect(res.stderr).toMatch(/^orchestrator: the prebuilt CLI is older than the sources; running the sources through tsx .*`npm run build:cli`.*\n$/);
    expect(res.stderr.trim().split("\n")).toHaveLength(1);

    rmSync(path.join(project, "dist"), { recursive: true });
    const missing = await cli(["validate", path.join(project, "examples/simple.json")]);
    expect(missing).toMatchObject({ code: 0, stdout: "valid\n" });
    expect(missing.stderr).toMatch(/^orchestrator: the prebuilt CLI is missing; running the sources through tsx/);
  });
});
