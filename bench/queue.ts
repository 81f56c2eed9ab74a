/**
 * Queue mode against one process, in one run (these machines are noisy; the ratios are what to compare):
 *
 *   a. one process, inline: server.ts on SQLite (the default, as `bench throughput`) and on Postgres;
 *   b. web + 1 worker (EXECUTION_MODE=queue, Postgres + Redis);
 *   c. web + 2 workers;
 *
 * each loaded the way `bench throughput` loads it (its `load`: the two-transform-step workflow behind its webhook,
 * `?wait=true`, BENCH_CONNECTIONS=10 for BENCH_DURATION_S=20 s after a warm-up of BENCH_WARMUP_S=2 s and at least
 * BENCH_WARMUP_RUNS=100 runs), printing runs/s, latency
 * p50/p95/p99, CPU per run of our processes and of the database's backends, and the ratios. Then
 *
 *   d. BENCH_BURST_RUNS (1,000) webhook calls at once without waiting, against web + 2 workers: the wall time until
 *      every run has ended, the peak RSS (VmHWM) of the web process and of each worker, and checks that none was
 *      lost (each accepted run succeeded) and none ran twice (one record per step, execution 1; one `running`
 *      status event; no takeover).
 *
 * Every process is a real child (server.ts from the production build, worker.ts), each phase on a database of its
 * own (Postgres: `h_bench_<phase>_…` in TEST_POSTGRES_URL's server, dropped after) and a BullMQ key prefix of its
 * own in BENCH_REDIS_URL (default redis://127.0.0.1:6379, db 0; only keys under `bench-<random>` are touched and
 * deleted after).
 *
 *   npx next build --webpack && npm run bench -- queue
 *   BENCH_REDIS_URL=redis://127.0.0.1:6379/9 BENCH_BURST_RUNS=1000 BENCH_QUEUE_PHASES=sqlite,postgres,queue1,queue2,burst npm run bench -- queue
 */
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import path from "node:path";
import { Redis } from "ioredis";
import pg from "pg";
import { POSTGRES_BASE_URL } from "@/e2e/fixtures/databases";
import { createPostgresDatabase } from "@/e2e/fixtures/queue-cluster";
import { openSql } from "@/lib/db/sql";
import { cpuMs, freePort, load, probeHook, saveThroughputHook, startServer, startWorker, stopServer } from "./throughput";

const root = path.resolve(import.meta.dirname, "..");

const envNumber = (name: string, fallback: number) => {
  const raw = process.env[name];
  const value = Number(raw);
  return raw !== undefined && raw !== "" && Number.isFinite(value) && value >= 0 ? value : fallback;
};

const PHASES = ["sqlite", "postgres", "queue1", "queue2", "burst"] as const;
type PhaseName = (typeof PHASES)[number];

interface LoadFigures {
  label: string;
  runsPerSecond: number;
  p50: number;
  p95: number;
  p99: number;
  /** CPU ms per answered run of our processes (web, workers) and of the Postgres backends serving them. */
  cpuPerRun: number;
  dbCpuPerRun?: number;
  /** Cores busy on the whole machine during the load (every process, other users' too). */
  machineBusy?: number;
  ok: boolean;
}

/** CPU ms used so far by each Postgres backend connected to `database` (pid → ms), read from /proc. */
async function backendCpu(database: string): Promise<Map<number, number>> {
  const client = new pg.Client({ connectionString: POSTGRES_BASE_URL });
  await client.connect();
  try {
    const { rows } = await client.query<{ pid: number }>(`select pid from pg_stat_activity where datname = $1`, [database]);
    const cpu = new Map<number, number>();
    for (const { pid } of rows) {
      const ms = cpuMs(pid);
      if (ms !== undefined) cpu.set(pid, ms);
    }
    return cpu;
  } finally {
    await client.end();
  }
}

/** Busy and total jiffies of the whole machine (/proc/stat), for the cores busy during a phase. */
function machineTicks(): { busy: number; total: number } | undefined {
  try {
    const [, ...fields] = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/);
    const n = fields.map(Number);
    const total = n.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busy: total - n[3] - n[4], total };
  } catch {
    return undefined;
  }
}

/** Peak resident set (VmHWM) of a process, in MB. */
function peakRssMb(pid: number | undefined): number | undefined {
  try {
    const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    return kb ? Number(kb) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

function rssMb(pid: number | undefined): number | undefined {
  try {
    const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    return kb ? Number(kb) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

const percentile = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : NaN);

interface Deployment {
  dataDir: string;
  dbUrl: string;
  pgName?: string;
  web: ChildProcess;
  workers: ChildProcess[];
  hookUrl: string;
  stop(): Promise<void>;
}

/**
 * Stores the workflow and its hook, then starts the workers (queue mode) and the web process; `stop` ends them
 * with SIGTERM (the web first, then the workers, which finish the runs they hold) and removes what the phase made.
 */
async function deploy(phase: PhaseName, redisUrl: string, workerCount: number): Promise<Deployment> {
  const dataDir = mkdtempSync(path.join(tmpdir(), `orchestrator-bench-${phase}-`));
  const database = phase === "sqlite" ? undefined : await createPostgresDatabase(`h_bench_${phase}`);
  const dbUrl = database?.url ?? `file:${path.join(dataDir, "orchestrator.db")}`;
  const prefix = `bench-${randomBytes(4).toString("hex")}`;
  const env: Record<string, string> = {};
  if (database) env.DATABASE_URL = dbUrl;
  if (workerCount) Object.assign(env, { EXECUTION_MODE: "queue", REDIS_URL: redisUrl, ORCHESTRATOR_QUEUE_PREFIX: prefix });
  const workers: ChildProcess[] = [];
  let web: ChildProcess | undefined;
  const stop = async () => {
    if (web) await stopServer(web);
    await Promise.all(workers.map(stopServer));
    if (workerCount) await deleteKeys(redisUrl, prefix);
    await database?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    const hookPath = await saveThroughputHook(dataDir, dbUrl);
    for (let i = 0; i < workerCount; i++) workers.push(await startWorker(dataDir, env));
    const port = await freePort();
    web = await startServer(dataDir, port, env);
    const hookUrl = `http://127.0.0.1:${port}${hookPath}`;
    await probeHook(`${hookUrl}?wait=true`);
    return { dataDir, dbUrl, pgName: database && new URL(database.url).pathname.slice(1), web, workers, hookUrl, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Deletes this bench's BullMQ keys (never the db's other keys). */
async function deleteKeys(redisUrl: string, prefix: string) {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
      if (keys.length) await redis.del(...keys);
      cursor = next;
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
}

/** Run counts by status in the phase's database. */
async function runCounts(dbUrl: string): Promise<Record<string, number>> {
  const sql = openSql(dbUrl);
  try {
    const rows = await sql.queryCommitted<{ status: string; n: number | string }>(`SELECT "status", COUNT(*) AS n FROM "Run" GROUP BY "status"`);
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
  } finally {
    await sql.close();
  }
}

async function loadPhase(phase: PhaseName, label: string, redisUrl: string, workerCount: number): Promise<LoadFigures> {
  const connections = envNumber("BENCH_CONNECTIONS", 10);
  const duration = envNumber("BENCH_DURATION_S", 20);
  const warmup = envNumber("BENCH_WARMUP_S", 2);
  const deployment = await deploy(phase, redisUrl, workerCount);
  try {
    const url = `${deployment.hookUrl}?wait=true`;
    let answered = 1; // the probe
    let unanswered = 0; // requests that timed out: their runs go on
    // Warm-up until BENCH_WARMUP_RUNS runs were answered too (at most a minute): each process loads and compiles
    // modules on its first runs (tsx), which on a starved machine outlasted a 2 s warm-up and, spread over the few
    // runs of the measured window, tripled the CPU per run of web + 2 workers.
    const warmupRuns = envNumber("BENCH_WARMUP_RUNS", 100);
    const warmupUntil = Date.now() + 60_000;
    let warmedUp = 0;
    let warmupPhases = 0;
    while (warmup > 0 && (warmupPhases === 0 || (warmedUp < warmupRuns && Date.now() < warmupUntil))) {
      const warm = await load(url, connections, warmup);
      warmedUp += warm.statusCodeStats["200"]?.count ?? 0;
      unanswered += warm.errors;
      warmupPhases++;
    }
    answered += warmedUp;
    const processes = [deployment.web, ...deployment.workers];
    const cpuOf = () => processes.reduce((sum, child) => sum + (cpuMs(child.pid) ?? NaN), 0);
    const dbCpuBefore = deployment.pgName ? await backendCpu(deployment.pgName) : undefined;
    const ticksBefore = machineTicks();
    const cpuBefore = cpuOf();
    const latencies: number[] = [];
    const result = await load(url, connections, duration, (status, ms) => status === 200 && latencies.push(ms));
    const cpuAfter = cpuOf();
    const ticksAfter = machineTicks();
    const dbCpuAfter = deployment.pgName ? await backendCpu(deployment.pgName) : undefined;
    const ok = result.statusCodeStats["200"]?.count ?? 0;
    answered += ok;
    await Promise.all([stopServer(deployment.web), ...deployment.workers.map(stopServer)]);

    const counts = await runCounts(deployment.dbUrl);
    const succeeded = counts.succeeded ?? 0;
    // As in `bench throughput`: requests cut off when a load phase stopped (one per connection) may have run, and
    // so may those that timed out (counted as errors, which fail the phase anyway).
    unanswered += result.errors;
    const recorded = succeeded >= answered && succeeded <= answered + connections * (warmupPhases + 1) + unanswered;
    latencies.sort((a, b) => a - b);
    let dbCpu: number | undefined;
    if (dbCpuBefore && dbCpuAfter) {
      dbCpu = 0;
      for (const [pid, ms] of dbCpuAfter) dbCpu += ms - (dbCpuBefore.get(pid) ?? 0);
    }
    const figures: LoadFigures = {
      label,
      runsPerSecond: ok / duration,
      p50: percentile(latencies, 50),
      p95: percentile(latencies, 95),
      p99: percentile(latencies, 99),
      cpuPerRun: ok ? (cpuAfter - cpuBefore) / ok : NaN,
      dbCpuPerRun: dbCpu !== undefined && ok ? dbCpu / ok : undefined,
      machineBusy: ticksBefore && ticksAfter ? ((ticksAfter.busy - ticksBefore.busy) / (ticksAfter.total - ticksBefore.total)) * cpus().length : undefined,
      ok: recorded && ok === result.requests.total && result.errors === 0,
    };
    console.log(
      `${label.padEnd(26)} ${figures.runsPerSecond.toFixed(1).padStart(6)} runs/s  p50 ${figures.p50.toFixed(0)} ms  p95 ${figures.p95.toFixed(0)} ms  p99 ${figures.p99.toFixed(0)} ms  ` +
        `CPU/run ${figures.cpuPerRun.toFixed(2)} ms` +
        (figures.dbCpuPerRun !== undefined ? ` + Postgres ${figures.dbCpuPerRun.toFixed(2)} ms` : "") +
        (figures.machineBusy !== undefined ? `  machine ${figures.machineBusy.toFixed(2)}/${cpus().length} cores busy` : "") +
        `  (${ok} answered 200, ${result.requests.total - ok} other, ${result.errors} errors; recorded ${JSON.stringify(counts)} ${recorded ? "ok" : "MISMATCH"})`,
    );
    if (!figures.ok) process.exitCode = 1;
    return figures;
  } finally {
    await deployment.stop();
  }
}

/** d: BENCH_BURST_RUNS webhook calls at once (no wait) against web + 2 workers; all must succeed exactly once. */
async function burstPhase(redisUrl: string) {
  const runs = envNumber("BENCH_BURST_RUNS", 1000);
  const deployment = await deploy("burst", redisUrl, 2);
  const processes = [deployment.web, ...deployment.workers];
  const names = ["web", ...deployment.workers.map((_, i) => `worker ${i + 1}`)];
  const sql = openSql(deployment.dbUrl);
  try {
    const rssBefore = processes.map((child) => rssMb(child.pid));
    const started = performance.now();
    const answers = await Promise.all(
      Array.from({ length: runs }, async () => {
        const response = await fetch(deployment.hookUrl, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name: "ada" }) });
        const body = (await response.json()) as { runId?: string };
        if (response.status !== 202 || !body.runId) throw new Error(`a webhook call was not accepted: ${response.status} ${JSON.stringify(body)}`);
        return body.runId;
      }),
    );
    const acceptedMs = performance.now() - started;
    const ids = new Set(answers);
    if (ids.size !== runs) throw new Error(`${runs} calls gave ${ids.size} distinct run ids`);
    const placeholders = (n: number) => Array.from({ length: n }, () => "?").join(", ");
    const idList = [...ids];
    const ended = async () =>
      Number(
        (await sql.queryCommitted<{ n: number | string }>(`SELECT COUNT(*) AS n FROM "Run" WHERE "status" IN ('succeeded', 'failed', 'cancelled') AND "id" IN (${placeholders(idList.length)})`, idList))[0].n,
      );
    const deadline = Date.now() + envNumber("BENCH_BURST_TIMEOUT_S", 600) * 1000;
    let done = 0;
    while ((done = await ended()) < runs) {
      if (Date.now() > deadline) throw new Error(`only ${done} of ${runs} runs ended within the time limit`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const wallMs = performance.now() - started;
    const peaks = processes.map((child) => peakRssMb(child.pid));

    // None lost: every accepted run is stored and succeeded. None twice: one record per step (execution 1), one
    // `running` status event, no takeover.
    const inIds = `IN (${placeholders(idList.length)})`;
    const statuses = await sql.queryCommitted<{ status: string; n: number | string; takeovers: number | string | null }>(
      `SELECT "status", COUNT(*) AS n, SUM("takeovers") AS takeovers FROM "Run" WHERE "id" ${inIds} GROUP BY "status"`,
      idList,
    );
    const succeeded = Number(statuses.find((s) => s.status === "succeeded")?.n ?? 0);
    const takeovers = statuses.reduce((sum, s) => sum + Number(s.takeovers ?? 0), 0);
    const [steps] = await sql.queryCommitted<{ records: number | string; runs: number | string; reruns: number | string }>(
      `SELECT COUNT(*) AS records, COUNT(DISTINCT "runId") AS runs, SUM(CASE WHEN "execution" <> 1 THEN 1 ELSE 0 END) AS reruns FROM "StepRun" WHERE "runId" ${inIds}`,
      idList,
    );
    const [starts] = await sql.queryCommitted<{ events: number | string; runs: number | string }>(
      `SELECT COUNT(*) AS events, COUNT(DISTINCT "runId") AS runs FROM "RunEvent" WHERE "type" = 'run.status' AND "payload" LIKE '%"status":"running"%' AND "runId" ${inIds}`,
      idList,
    );
    const lost = runs - succeeded;
    const correct = lost === 0 && Number(steps.records) === 2 * runs && Number(steps.runs) === runs && Number(steps.reruns ?? 0) === 0 && Number(starts.events) === runs && Number(starts.runs) === runs && takeovers === 0;
    const mb = (v: number | undefined) => (v === undefined ? "?" : `${v.toFixed(0)} MB`);
    console.log(
      `${runs} runs at once (web + 2 workers): all accepted in ${(acceptedMs / 1000).toFixed(2)} s, all ended in ${(wallMs / 1000).toFixed(2)} s (${((runs / wallMs) * 1000).toFixed(1)} runs/s); ` +
        `peak RSS ${names.map((name, i) => `${name} ${mb(peaks[i])} (${mb(rssBefore[i])} before)`).join(", ")}`,
    );
    console.log(
      `  ${succeeded}/${runs} succeeded (${lost} lost), ${steps.records} step records for ${steps.runs} runs (${steps.reruns ?? 0} with execution > 1), ` +
        `${starts.events} 'running' events for ${starts.runs} runs, ${takeovers} takeovers: ${correct ? "ok, none lost, none run twice" : "MISMATCH"}`,
    );
    if (!correct) process.exitCode = 1;
  } finally {
    await sql.close();
    await deployment.stop();
  }
}

async function reachable(redisUrl: string): Promise<string | null> {
  const client = new pg.Client({ connectionString: POSTGRES_BASE_URL, connectionTimeoutMillis: 1500 });
  try {
    await client.connect();
  } catch (err) {
    return `PostgreSQL at ${POSTGRES_BASE_URL} is not reachable (${(err as Error).message})`;
  } finally {
    await client.end().catch(() => {});
  }
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1500 });
  try {
    await redis.connect();
    await redis.ping();
    return null;
  } catch (err) {
    return `Redis at ${redisUrl} is not reachable (${(err as Error).message})`;
  } finally {
    redis.disconnect();
  }
}

const ratio = (a: LoadFigures | undefined, b: LoadFigures | undefined) => (a && b ? `${(a.runsPerSecond / b.runsPerSecond).toFixed(2)}x` : "n/a");

export async function benchQueue() {
  if (!existsSync(path.join(root, ".next/BUILD_ID"))) throw new Error("no production build: run `npx next build --webpack` first");
  const redisUrl = process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379";
  const wanted = (process.env.BENCH_QUEUE_PHASES ?? PHASES.join(",")).split(",").map((s) => s.trim());
  const unknown = wanted.filter((p) => !PHASES.includes(p as PhaseName));
  if (unknown.length) throw new Error(`BENCH_QUEUE_PHASES: unknown phase ${unknown.join(", ")}; choose from ${PHASES.join(", ")}`);
  const problem = await reachable(redisUrl);
  if (problem) {
    console.log(`queue bench skipped: ${problem} (queue mode needs both)`);
    return;
  }
  const connections = envNumber("BENCH_CONNECTIONS", 10);
  const duration = envNumber("BENCH_DURATION_S", 20);
  console.log(`queue mode vs one process: webhook ?wait=true, 2 transform steps, ${connections} connections, ${duration} s per phase; ${cpus().length} cores`);
  const has = (p: PhaseName) => wanted.includes(p);
  const sqlite = has("sqlite") ? await loadPhase("sqlite", "one process, SQLite", redisUrl, 0) : undefined;
  const postgres = has("postgres") ? await loadPhase("postgres", "one process, Postgres", redisUrl, 0) : undefined;
  const one = has("queue1") ? await loadPhase("queue1", "web + 1 worker (Postgres)", redisUrl, 1) : undefined;
  const two = has("queue2") ? await loadPhase("queue2", "web + 2 workers (Postgres)", redisUrl, 2) : undefined;
  console.log(
    `ratios (runs/s): 2 workers / 1 worker ${ratio(two, one)} (goal >= 1.7x where cores allow); web + 1 worker / one process on Postgres ${ratio(one, postgres)}; ` +
      `web + 2 workers / one process on Postgres ${ratio(two, postgres)}; one process Postgres / SQLite ${ratio(postgres, sqlite)}`,
  );
  if (has("burst")) await burstPhase(redisUrl);
}
