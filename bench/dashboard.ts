/**
 * Dashboard queries at scale: seeds 100,000 runs (20 workflows, 3 step records each, definitions and outputs of a
 * realistic size, spread over 30 days) and times `dashboardData` per range, for an admin (every run), an editor
 * (its own runs) and one workflow.
 *
 *   npx tsx bench/dashboard.ts                 # SQLite (a temporary file)
 *   npx tsx bench/dashboard.ts postgres <url>  # Postgres (a fresh schema in that database, dropped after)
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { actorById } from "@/lib/auth/access";
import { createDb, ensureLocalUser } from "@/lib/db";
import { openSql } from "@/lib/db/sql";
import { dashboardData, RANGES, type DashboardRange } from "@/lib/observability/dashboard";

const RUNS = Number(process.env.BENCH_RUNS ?? 100_000);
const [kind = "sqlite", baseUrl = "postgresql://postgres@127.0.0.1:5432/test"] = process.argv.slice(2);
const dir = mkdtempSync(path.join(tmpdir(), "orchestrator-dash-"));
const schema = `bench_${Date.now().toString(36)}`;
const url = kind === "postgres" ? `${baseUrl}?schema=${schema}` : `file:${path.join(dir, "bench.db")}`;

const db = await createDb(url);
const sql = openSql(url);
const ownerId = await ensureLocalUser(db);
await db.user.create({ data: { id: "editor-1", email: "editor@example.com", name: "e", role: "editor" } });
for (let w = 0; w < 20; w++) await db.workflow.create({ data: { id: `wf-${w}`, ownerId: w % 3 === 0 ? "editor-1" : ownerId, name: `Workflow ${w}` } });
const definition = JSON.stringify({ id: "w", name: "w", steps: Array.from({ length: 12 }, (_, i) => ({ id: `s${i}`, type: "llm", config: { prompt: "x".repeat(120) } })) });
const output = JSON.stringify({ text: "y".repeat(800) });
const now = Date.now();
const iso = (ms: number) => new Date(ms);

console.log(`seeding ${RUNS} runs on ${kind}…`);
const seedStart = performance.now();
const CHUNK = 500;
for (let start = 0; start < RUNS; start += CHUNK) {
  const runs: unknown[][] = [];
  const steps: unknown[][] = [];
  for (let i = start; i < Math.min(RUNS, start + CHUNK); i++) {
    const created = now - Math.floor(((i * 7919) % RUNS) / RUNS * 30 * 86_400_000);
    const duration = 500 + ((i * 104729) % 60_000);
    const status = i % 10 === 0 ? "failed" : "succeeded";
    const id = `run-${i}`;
    runs.push([id, i % 3 === 0 ? "editor-1" : ownerId, `wf-${i % 20}`, `Workflow ${i % 20}`, definition, status, output, iso(created), iso(created), iso(created + duration), 300, 0.003]);
    for (let s = 0; s < 3; s++) steps.push([`${id}-${s}`, id, `s${s}`, "llm", 1, "succeeded", output, output, iso(created), iso(created + duration / 3), 200, 100, 0.001]);
  }
  const insert = (table: string, columns: string[], rows: unknown[][]) => ({
    sql: `INSERT INTO "${table}" (${columns.map((c) => `"${c}"`).join(", ")}) VALUES ${rows.map(() => `(${columns.map(() => "?").join(", ")})`).join(", ")}`,
    params: rows.flat(),
  });
  await sql.batch([
    insert("Run", ["id", "ownerId", "workflowId", "workflowName", "definition", "status", "outputs", "createdAt", "startedAt", "finishedAt", "totalTokens", "costUsd"], runs),
    insert("StepRun", ["id", "runId", "stepId", "stepType", "execution", "status", "input", "output", "startedAt", "finishedAt", "promptTokens", "completionTokens", "costUsd"], steps),
  ]);
}
console.log(`seeded in ${((performance.now() - seedStart) / 1000).toFixed(1)} s`);
if (kind === "postgres") await sql.query(`ANALYZE`);

const admin = await actorById(db, ownerId);
const editor = await actorById(db, "editor-1");
const time = async (label: string, fn: () => Promise<{ summary: { runs: number } }>) => {
  await fn(); // warm (statement cache, page cache)
  const samples: number[] = [];
  let runs = 0;
  for (let i = 0; i < 3; i++) {
    const start = performance.now();
    runs = (await fn()).summary.runs;
    samples.push(performance.now() - start);
  }
  samples.sort((a, b) => a - b);
  console.log(`${label.padEnd(28)} ${String(runs).padStart(7)} runs  median ${samples[1]!.toFixed(0)} ms (min ${samples[0]!.toFixed(0)}, max ${samples[2]!.toFixed(0)})`);
};
for (const range of Object.keys(RANGES) as DashboardRange[]) {
  await time(`admin ${range}`, () => dashboardData({ db, sql }, admin, { range }));
  await time(`editor ${range}`, () => dashboardData({ db, sql }, editor, { range }));
  await time(`one workflow ${range}`, () => dashboardData({ db, sql }, admin, { range, workflowId: "wf-3" }));
}

await db.$disconnect();
await sql.close();
if (process.env.BENCH_KEEP) console.log(`kept ${url}`);
else rmSync(dir, { recursive: true, force: true });
if (kind === "postgres") {
  const client = new pg.Client({ connectionString: baseUrl });
  await client.connect();
  await client.query(`DROP SCHEMA "${schema}" CASCADE`);
  await client.end();
}
