import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "@/e2e/fixtures/cli-process";
import { changedTables, dbSnapshot } from "@/e2e/fixtures/db-snapshot";
import { baseDefinition, deepJsonText, hostileDefinition, hostileJson } from "@/e2e/fixtures/hostile-values";
import { validateWorkflow } from "@/lib/workflow/validate";

/**
 * The real CLI (prebuilt, `npm run build:cli`) on generated files and input: `validate`, `import` and `run` exit 2
 * with a message naming what is wrong for anything that is not a valid definition (or input) — never a stack trace,
 * never exit 1 from a crash — and leave the database as it was. Each case is a process (0.3–1 s of CPU), so the counts are small.
 */
const dir = mkdtempSync(path.join(tmpdir(), "orchestrator-hostile-cli-"));
const dbFile = path.join(dir, "orchestrator.db");
const env = { ...process.env, ORCHESTRATOR_DATA_DIR: dir, DATABASE_URL: "", LLM_GATEWAY_URL: "", LLM_API_KEY: "", LOG_LEVEL: "silent" };
const counts: Record<string, number> = {};

/** File contents: hostile definitions as JSON, JSON text nested too deep, and text that is not JSON at all. */
const fileText = fc.oneof(
  { weight: 4, arbitrary: hostileDefinition("cli-hostile").map((definition) => JSON.stringify(definition) ?? "") },
  { weight: 1, arbitrary: hostileJson.map((value) => JSON.stringify(value) ?? "") },
  { weight: 1, arbitrary: deepJsonText },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 300 }) },
  { weight: 1, arbitrary: fc.constantFrom("", "\ufeff", "{", "null", "[]", "{}", "\u0000\u0001", '{"id":"x","name":"y","steps":"nope"}', `{"id":"a","name":"b","steps":[],"__proto__":{"polluted":1}}`) },
);

/** Whether the CLI should take the file (then a 0 for validate and import is right). */
function isValidDefinitionText(text: string): boolean {
  try {
    return validateWorkflow(JSON.parse(text)).issues.length === 0;
  } catch {
    return false;
  }
}

function expectCleanRefusal(result: { code: number; stdout: string; stderr: string }, label: string) {
  const output = `${result.stdout}${result.stderr}`;
  expect(result.code, `${label}: ${output.slice(0, 500)}`).toBe(2);
  expect(output.trim().length, label).toBeGreaterThan(0);
  expect(output, label).not.toMatch(/\n\s+at .+[:(]\d+/); // a stack frame
  expect(output, label).not.toMatch(/INTERNAL|TypeError|RangeError|ReferenceError/);
}

let file = 0;
const writeCase = (text: string) => {
  const name = path.join(dir, `case-${++file}.json`);
  writeFileSync(name, text);
  return name;
};

beforeAll(async () => {
  // A database with a workflow in it, so "nothing changed" compares real rows.
  const seeded = await runCli(["import", writeCase(JSON.stringify(baseDefinition("seeded")))], { env });
  expect(seeded.code, seeded.stderr).toBe(0);
});

afterAll(() => {
  for (const [name, n] of Object.entries(counts)) console.log(`fast-check: ${n} cases — ${name}`);
  rmSync(dir, { recursive: true, force: true });
});

describe("CLI on hostile files, property-based", () => {
  it("validate: exit 2 with the issues for anything but a valid definition, exit 0 for one", async () => {
    await fc.assert(
      fc.asyncProperty(fileText, async (text) => {
        counts["CLI validate <file>"] = (counts["CLI validate <file>"] ?? 0) + 1;
        const result = await runCli(["validate", writeCase(text)], { env });
        if (isValidDefinitionText(text)) expect(result.code, result.stdout + result.stderr).toBe(0);
        else expectCleanRefusal(result, `validate ${text.slice(0, 200)}`);
      }),
      { numRuns: 8, endOnFailure: true },
    );
  }, 120_000);

  it("import and run: exit 2 for a file that is not a valid definition, and nothing is stored", async () => {
    await fc.assert(
      fc.asyncProperty(fileText, fc.constantFrom("import", "run"), async (text, command) => {
        counts["CLI import/run <file>"] = (counts["CLI import/run <file>"] ?? 0) + 1;
        const before = dbSnapshot(dbFile);
        const result = await runCli([command, writeCase(text), "--json"], { env });
        if (isValidDefinitionText(text)) return; // a valid definition is saved (and run): a change is right
        expectCleanRefusal(result, `${command} ${text.slice(0, 200)}`);
        expect(JSON.parse(result.stdout.trim().split("\n").at(-1)!)).toMatchObject({ error: { code: expect.stringMatching(/^(USAGE|INVALID_DEFINITION)$/), message: expect.any(String) } });
        expect(changedTables(before, dbSnapshot(dbFile))).toEqual([]);
      }),
      { numRuns: 6, endOnFailure: true },
    );
  }, 120_000);

  it("run --input: exit 2 naming the input for hostile input to a workflow with an input schema, and nothing is stored", async () => {
    const strict = writeCase(JSON.stringify({ ...baseDefinition("seeded"), input: { type: "object", required: ["name"], properties: { name: { type: "string", maxLength: 50 } }, additionalProperties: false } }));
    // An argument is at most 128 KB on Linux and holds no NUL byte: larger input goes in files, tried above.
    const input = fc
      .oneof(
        hostileJson.map((value) => JSON.stringify(value) ?? "null"),
        deepJsonText,
        fc.string({ unit: "binary", maxLength: 100 }),
        fc.constantFrom("NaN", "Infinity", "-Infinity", "1e999", '{"name":"ada","__proto__":{"x":1}}', '{"name":1}', ""),
      )
      .filter((text) => !text.includes("\u0000") && Buffer.byteLength(text) < 100_000);
    await fc.assert(
      fc.asyncProperty(input, async (text) => {
        counts["CLI run --input <json>"] = (counts["CLI run --input <json>"] ?? 0) + 1;
        const before = dbSnapshot(dbFile);
        const result = await runCli(["run", strict, "--input", text], { env });
        expectCleanRefusal(result, `run --input ${text.slice(0, 200)}`);
        expect(`${result.stdout}${result.stderr}`).toMatch(/--input|input/);
        expect(changedTables(before, dbSnapshot(dbFile))).toEqual([]);
      }),
      { numRuns: 4, endOnFailure: true },
    );
  }, 120_000);
});
