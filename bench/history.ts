/**
 * The run history at 100,000 runs: seeds runs (with three step records each, sized like real ones: a few KB of
 * definition, input, outputs and errors per run) into a fresh SQLite file and, when it is reachable, a fresh
 * Postgres schema, then times `listRuns` — the first page and filtered pages — as the owner (sees everything) and
 * as an editor (sees their own workflows and two shared ones). Goal: each ≤ 100 ms.
 *
 *   npm run bench -- history
 *   BENCH_HISTORY_RUNS=20000 BENCH_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/h_history npm run bench -- history
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { createDb, ensureLocalUser, type Db } from "@/lib/db";
import { openSql, type SqlConnection } from "@/lib/db/sql";
import { postgresTarget, sqlitePath } from "@/lib/db/url";
import { listRuns } from "@/lib/runner/queries";
import type { RunListFilter } from "@/lib/runner/run-filter";
import { searchBackfillStatements } from "@/lib/runner/run-search";

const RUNS = Number(process.env.BENCH_HISTORY_RUNS) || 100_000;
const POSTGRES_URL = process.env.BENCH_POSTGRES_URL ?? "postgresql://postgres@127.0.0.1:5432/h_history";
const WORKFLOWS = 20;
const DAY = 86_400_000;
const NOW = Date.parse("2026-12-01T12:00:00Z");

const WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu invoice refund shipment summary outline draft review translate classify extract".split(" ");
/** Deterministic pseudo-random numbers (the same data on both databases). */
const rand = (i: number, salt: number) => {
  let x = (i * 2654435761 + salt * 40503) >>> 0;
  x ^= x >>> 15;
  x = Math.imul(x, 2246822507) >>> 0;
  x ^= x >>> 13;
  return (x >>> 0) / 4294967296;
};
const word = (i: number, salt: number) => WORDS[Math.floor(rand(i, salt) * WORDS.length)];
const sentence = (i: number, salt: number, n: number) => Array.from({ length: n }, (_, k) => word(i, salt + k)).join(" ");

const DEFINITION = JSON.stringify({
  id: "wf",
  name: "Bench workflow",
  steps: [
    { id: "fetch", type: "http", config: { url: "https://api.example.com/orders/{{ input.order }}", method: "GET" } },
    { id: "summarise", type: "llm", config: { model: "gpt-4o-mini", prompt: `Summarise the order for {{ input.customer }}: {{ steps.fetch.body }}. ${"Be brief and precise. ".repeat(40)}` } },
    { id: "shape", type: "transform", config: { output: { customer: "{{ input.customer }}", summary: "{{ steps.summarise.text }}" } } },
  ],
  edges: [{ from: "fetch", to: "summarise" }, { from: "summarise", to: "shape" }],
});

interface Seed {
  runs: unknown[][];
  steps: unknown[][];
}

const users = { owner: "local", alice: "bench-alice", bob: "bench-bob" };
const workflowOwner = (w: number) => (w < WORKFLOWS / 2 ? users.alice : users.bob);

/** One chunk of runs [from, to) and their step records, as rows in column order (RUN_COLUMNS, STEP_COLUMNS). */
function seedChunk(from: number, to: number): Seed {
  const runs: unknown[][] = [];
  const steps: unknown[][] = [];
  for (let i = from; i < to; i++) {
    const w = i % WORKFLOWS;
    const r = rand(i, 1);
    const status = r < 0.85 ? "succeeded" : r < 0.95 ? "failed" : r < 0.98 ? "cancelled" : r < 0.99 ? "running" : "waiting";
    const t = rand(i, 2);
    const trigger = t < 0.3 ? "ui" : t < 0.6 ? "api" : t < 0.85 ? "webhook" : t < 0.95 ? "cli" : t < 0.98 ? "fork" : "workflow";
    const createdAt = new Date(NOW - Math.floor((i / RUNS) * 90 * DAY));
    const startedAt = new Date(createdAt.getTime() + 50);
    const ended = status !== "running" && status !== "waiting";
    const durationMs = ended ? 100 + Math.floor(rand(i, 3) ** 3 * 120_000) : null;
    const finishedAt = ended ? new Date(startedAt.getTime() + durationMs!) : null;
    const costUsd = rand(i, 4) < 0.4 ? Math.round(rand(i, 5) * 5000) / 10_000 : null;
    const customer = `cust-${String(i % 1000).padStart(4, "0")}`;
    const input = JSON.stringify({ customer, order: `ord-${i}`, topic: sentence(i, 10, 4) + (i % 997 === 0 ? " quokka" : "") });
    const text = `${sentence(i, 20, 60)}. Customer ${customer} ordered ${Math.floor(rand(i, 6) * 20) + 1} items.`;
    const outputs = JSON.stringify({ fetch: { status: 200, body: { order: `ord-${i}`, items: 3 } }, summarise: { text }, shape: { customer, summary: text } });
    const error = status === "failed" ? JSON.stringify({ code: "HTTP_ERROR", message: `upstream 503 from api.example.com for ord-${i}`, stepId: "fetch" }) : null;
    const id = `run_${i.toString(16).padStart(8, "0")}${Math.floor(rand(i, 7) * 1e8).toString(16).padStart(7, "0")}`;
    const resumeCount = rand(i, 8) < 0.01 ? 1 : 0;
    runs.push([id, workflowOwner(w), `wf${w}`, `Workflow ${w}`, 1, DEFINITION, status, trigger === "ui" ? "web" : trigger === "fork" ? "web" : trigger, trigger, input, ended ? outputs : null, error, 10, costUsd, costUsd === null ? null : 1200, resumeCount, resumeCount ? finishedAt : null, createdAt, startedAt, finishedAt, durationMs, trigger === "fork" ? `run_parent${i}` : null]);
    for (const [k, stepId] of ["fetch", "summarise", "shape"].entries())
      steps.push([`${id}_${k}`, id, stepId, ["http", "llm", "transform"][k], 1, ended || k === 0 ? "succeeded" : "running", JSON.stringify({ prompt: text.slice(0, 200) }), ended || k === 0 ? JSON.stringify({ text }) : null, startedAt, finishedAt]);
  }
  return { runs, steps };
}

const RUN_COLUMNS = ["id", "ownerId", "workflowId", "workflowName", "workflowVersion", "definition", "status", "source", "trigger", "input", "outputs", "error", "lastSeq", "costUsd", "totalTokens", "resumeCount", "resumedAt", "createdAt", "startedAt", "finishedAt", "durationMs", "parentRunId"];
const STEP_COLUMNS = ["id", "runId", "stepId", "stepType", "execution", "status", "input", "output", "startedAt", "finishedAt"];
const CHUNK = 1000;

async function seedUsersAndWorkflows(db: Db) {
  await ensureLocalUser(db);
  for (const id of [users.alice, users.bob]) await db.user.create({ data: { id, email: `${id}@example.com`, name: id, role: "editor" } });
  for (let w = 0; w < WORKFLOWS; w++) await db.workflow.create({ data: { id: `wf${w}`, ownerId: workflowOwner(w), name: `Workflow ${w}`, latestVersion: 1 } });
  // Alice sees two of Bob's workflows.
  for (const w of [10, 11]) await db.workflowShare.create({ data: { workflowId: `wf${w}`, userId: users.alice, permission: "view" } });
}

function seedSqlite(file: string) {
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = OFF");
  const iso = (v: unknown) => (v instanceof Date ? `${v.toISOString().slice(0, -1)}+00:00` : v);
  const insertRun = db.prepare(`INSERT INTO "Run" (${RUN_COLUMNS.map((c) => `"${c}"`).join(", ")}) VALUES (${RUN_COLUMNS.map(() => "?").join(", ")})`);
  const insertStep = db.prepare(`INSERT INTO "StepRun" (${STEP_COLUMNS.map((c) => `"${c}"`).join(", ")}) VALUES (${STEP_COLUMNS.map(() => "?").join(", ")})`);
  const write = db.transaction((seed: Seed) => {
    for (const row of seed.runs) insertRun.run(...row.map(iso));
    for (const row of seed.steps) insertStep.run(...row.map(iso));
  });
  for (let from = 0; from < RUNS; from += CHUNK) write(seedChunk(from, Math.min(from + CHUNK, RUNS)));
  // What the run path writes per run, for the seeded rows at once.
  for (const statement of searchBackfillStatements("sqlite")) db.prepare(statement.sql).run(...(statement.params ?? []));
  db.close();
}

async function seedPostgres(url: string) {
  const { connectionString, schema } = postgresTarget(url);
  const client = new pg.Client({ connectionString, options: `-c search_path="${schema}"` });
  await client.connect();
  const insert = async (table: string, columns: string[], rows: unknown[][]) => {
    const values = rows.map((row, r) => `(${row.map((_, c) => `$${r * columns.length + c + 1}`).join(", ")})`).join(", ");
    await client.query(`INSERT INTO "${table}" (${columns.map((c) => `"${c}"`).join(", ")}) VALUES ${values}`, rows.flat().map((v) => (v instanceof Date ? v.toISOString() : v)));
  };
  for (let from = 0; from < RUNS; from += CHUNK) {
    const seed = seedChunk(from, Math.min(from + CHUNK, RUNS));
    await client.query("BEGIN");
    for (let i = 0; i < seed.runs.length; i += 500) await insert("Run", RUN_COLUMNS, seed.runs.slice(i, i + 500));
    for (let i = 0; i < seed.steps.length; i += 1000) await insert("StepRun", STEP_COLUMNS, seed.steps.slice(i, i + 1000));
    await client.query("COMMIT");
  }
  await client.query("ANALYZE");
  await client.end();
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function timeQueries(label: string, deps: { db: Db; sql: SqlConnection }) {
  const mid = new Date(NOW - 45 * DAY);
  const cases: Array<[string, RunListFilter]> = [
    ["first page", {}],
    ["status=failed", { status: "failed" }],
    ["trigger=webhook", { trigger: "webhook" }],
    ["trigger=resume", { trigger: "resume" }],
    ["date range (7 days)", { since: new Date(mid.getTime() - 7 * DAY), until: mid }],
    ["search \"cust-0042\"", { search: "cust-0042" }],
    ["search \"quokka\"", { search: "quokka" }],
    ["search (no match)", { search: "no such text anywhere" }],
    ["search \"alpha\" (common)", { search: "alpha" }],
    ["workflow wf3", { workflowId: "wf3" }],
    ["sort duration desc", { sort: "duration" }],
    ["cost ≥ $0.40", { minCost: 0.4 }],
  ];
  console.log(`\n${label} (${RUNS.toLocaleString("en")} runs, ${(RUNS * 3).toLocaleString("en")} step records): listRuns, median of 5, page of 50`);
  console.log(`${"query".padEnd(24)} ${"owner".padStart(9)} ${"rows".padStart(5)} ${"editor".padStart(9)} ${"rows".padStart(5)} ${"page 2".padStart(9)}`);
  let worst = 0;
  for (const [name, filter] of cases) {
    const cells: string[] = [];
    for (const user of [users.owner, users.alice]) {
      const times: number[] = [];
      let page = await listRuns(deps, user, { ...filter, limit: 50 }); // warm-up
      for (let k = 0; k < 5; k++) {
        const start = performance.now();
        page = await listRuns(deps, user, { ...filter, limit: 50 });
        times.push(performance.now() - start);
      }
      worst = Math.max(worst, median(times));
      cells.push(`${median(times).toFixed(1).padStart(7)}ms`, String(page.runs.length).padStart(5));
      if (user === users.alice) {
        const times2: number[] = [];
        if (page.nextCursor)
          for (let k = 0; k < 5; k++) {
            const start = performance.now();
            await listRuns(deps, user, { ...filter, limit: 50, cursor: page.nextCursor });
            times2.push(performance.now() - start);
          }
        if (times2.length) worst = Math.max(worst, median(times2));
        cells.push(times2.length ? `${median(times2).toFixed(1).padStart(7)}ms` : "        -");
      }
    }
    console.log(`${name.padEnd(24)} ${cells.join(" ")}`);
  }
  console.log(`${label}: slowest median ${worst.toFixed(1)} ms (goal <= 100 ms)`);
}

async function postgresReachable(): Promise<string | null> {
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 1500 });
  try {
    await client.connect();
    await client.query("select 1");
    return null;
  } catch (err) {
    return (err as Error).message;
  } finally {
    await client.end().catch(() => {});
  }
}

export async function benchHistory() {
  // BENCH_HISTORY_KEEP=1 keeps the SQLite file (its path is printed) to look at query plans.
  const keep = process.env.BENCH_HISTORY_KEEP === "1";
  const dir = mkdtempSync(path.join(tmpdir(), "orchestrator-bench-history-"));
  try {
    const url = `file:${path.join(dir, "history.db")}`;
    let started = performance.now();
    const db = await createDb(url); // migrates
    await seedUsersAndWorkflows(db);
    seedSqlite(sqlitePath(url));
    console.log(`SQLite: seeded in ${((performance.now() - started) / 1000).toFixed(1)} s${keep ? ` (${sqlitePath(url)})` : ""}`);
    const sql = openSql(url);
    await timeQueries("SQLite", { db, sql });
    await sql.close();
    await db.$disconnect();

    const unreachable = process.env.BENCH_HISTORY_SQLITE_ONLY === "1" ? "BENCH_HISTORY_SQLITE_ONLY=1" : await postgresReachable();
    if (unreachable) {
      console.log(`\nPostgres: skipped — ${POSTGRES_URL} is not reachable (${unreachable}); set BENCH_POSTGRES_URL`);
      return;
    }
    const schema = `bench_history_${process.pid}`;
    const pgUrl = `${POSTGRES_URL}${POSTGRES_URL.includes("?") ? "&" : "?"}schema=${schema}`;
    started = performance.now();
    const pdb = await createDb(pgUrl);
    try {
      await seedUsersAndWorkflows(pdb);
      await seedPostgres(pgUrl);
      console.log(`\nPostgres: seeded in ${((performance.now() - started) / 1000).toFixed(1)} s`);
      const psql = openSql(pgUrl);
      await timeQueries("Postgres", { db: pdb, sql: psql });
      await psql.close();
    } finally {
      await pdb.$disconnect();
      const client = new pg.Client({ connectionString: POSTGRES_URL });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await client.end();
    }
  } finally {
    if (!keep) rmSync(dir, { recursive: true, force: true });
  }
}
