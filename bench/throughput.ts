/**
 * Webhook throughput: the real server (server.ts, production build) on a fresh data directory with SQLite, a
 * saved workflow of two transform steps behind its webhook, loaded with autocannon through
 * `POST /api/hooks/<id>/<token>?wait=true` (the answer comes when the run has ended). Prints runs/s and the
 * latency percentiles, then checks every answered run was recorded as succeeded.
 *
 * Same shape as ../shared/tools/n8n-anchor.sh (webhook + two Set nodes, executions saved): run both back to back.
 *
 *   npm run build && npm run bench -- throughput
 *   BENCH_CONNECTIONS=10 BENCH_DURATION_S=20 BENCH_WARMUP_S=2 npm run bench -- throughput
 *   BENCH_SERVER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" npm run bench -- throughput   # profile the server
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import autocannon, { type Result } from "autocannon";
import Database from "better-sqlite3";
import { createDb, ensureLocalUser } from "@/lib/db/client";
import { enableHook } from "@/lib/webhooks/hooks";
import type { WorkflowDefinition } from "@/lib/workflow/schema";
import { saveWorkflowVersion } from "@/lib/workflows/repository";

const root = path.resolve(import.meta.dirname, "..");

/** The n8n anchor's shape: greet from the webhook body, then transform the greeting. */
export const THROUGHPUT_WORKFLOW: WorkflowDefinition = {
  id: "bench-throughput",
  name: "bench throughput",
  steps: [
    { id: "greet", type: "transform", config: { output: { greeting: "hi {{ input.name }}" } } },
    { id: "shout", type: "transform", config: { output: { shout: "{{ $uppercase(steps.greet.greeting) }}" } } },
  ],
  edges: [{ from: "greet", to: "shout" }],
};

const envNumber = (name: string, fallback: number) => {
  const value = Number(process.env[name]);
  return Number.isFinite(value) && value >= 0 && process.env[name] !== "" && process.env[name] !== undefined ? value : fallback;
};

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts `server.ts` (production build) on SQLite in `dataDir`; `env` overrides (queue mode: EXECUTION_MODE,
 * DATABASE_URL, REDIS_URL…). Node itself runs it (tsx as a loader), so the child's pid is the server's.
 */
export function startServer(dataDir: string, port: number, env: Record<string, string> = {}): Promise<ChildProcess> {
  return startProcess("server.ts", "ready on", "the server", { PORT: String(port), HOST: "127.0.0.1", ...env }, dataDir);
}

/** Starts a queue-mode worker (`worker.ts`) with the same environment rules as `startServer`. */
export function startWorker(dataDir: string, env: Record<string, string>): Promise<ChildProcess> {
  return startProcess("worker.ts", " ready (", "the worker", env, dataDir);
}

function startProcess(script: string, readyText: string, what: string, env: Record<string, string>, dataDir: string): Promise<ChildProcess> {
  const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? "").split(" ").filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, "--import", "tsx", script], {
    cwd: root,
    env: {
      ...process.env,
      NODE_ENV: "production",
      ORCHESTRATOR_DATA_DIR: dataDir,
      DATABASE_URL: "",
      LOG_LEVEL: process.env.LOG_LEVEL ?? "warn",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`${what} did not start within 60 s:\n${output}`)), 60_000);
    const fail = (err: Error) => {
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(err);
    };
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes(readyText)) {
        clearTimeout(timer);
        resolve(child);
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code) => fail(new Error(`${what} exited (${code}) before it was ready:\n${output}`)));
  });
}

/** SIGTERM lets the server drain its runs (so runs still going when the load stopped are recorded too). */
export function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.once("exit", () => {
      clearTimeout(force);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

/** CPU time (user + system, ms) the server process has used so far; undefined where /proc is missing. */
export function cpuMs(pid: number | undefined): number | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime + stime, in clock ticks of 10 ms
  } catch {
    return undefined;
  }
}

/**
 * The webhook load: `connections` clients POSTing `{"name":"ada"}` back to back for `duration` s. `onResponse`
 * sees each answer's status and time (ms), for percentiles autocannon's histogram lacks (p95).
 */
export function load(url: string, connections: number, duration: number, onResponse?: (status: number, ms: number) => void): Promise<Result> {
  const options = {
    url,
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name: "ada" }),
    connections,
    duration,
  };
  if (!onResponse) return autocannon(options);
  return new Promise((resolve, reject) => {
    const instance = autocannon(options, (err, result) => (err ? reject(err) : resolve(result)));
    instance.on("response", (_client, status, _bytes, ms) => onResponse(status, ms));
  });
}

/**
 * Stores THROUGHPUT_WORKFLOW and enables its webhook in the database at `dbUrl`, as a user would have before the
 * server starts; returns the hook's path. The hook's secret is sealed with `dataDir`'s key file, so the
 * processes must use that data directory.
 */
export async function saveThroughputHook(dataDir: string, dbUrl: string): Promise<string> {
  const savedDataDir = process.env.ORCHESTRATOR_DATA_DIR;
  process.env.ORCHESTRATOR_DATA_DIR = dataDir;
  try {
    const db = await createDb(dbUrl);
    try {
      const ownerId = await ensureLocalUser(db);
      await saveWorkflowVersion(db, ownerId, THROUGHPUT_WORKFLOW);
      return (await enableHook(db, ownerId, THROUGHPUT_WORKFLOW.id)).path;
    } finally {
      await db.$disconnect();
    }
  } finally {
    process.env.ORCHESTRATOR_DATA_DIR = savedDataDir;
  }
}

/** One run through the webhook with `?wait=true`: throws unless it ran the workflow to its expected output. */
export async function probeHook(url: string): Promise<void> {
  const probe = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name: "ada" }) });
  const answer = (await probe.json()) as { status?: string; outputs?: Record<string, unknown> };
  if (probe.status !== 200 || answer.status !== "succeeded" || (answer.outputs?.shout as { shout?: string })?.shout !== "HI ADA")
    throw new Error(`the webhook did not run the workflow: ${probe.status} ${JSON.stringify(answer)}`);
}

export async function benchThroughput() {
  if (!existsSync(path.join(root, ".next/BUILD_ID"))) throw new Error("no production build: run `npm run build` first");
  const connections = envNumber("BENCH_CONNECTIONS", 10);
  const duration = envNumber("BENCH_DURATION_S", 20);
  const warmup = envNumber("BENCH_WARMUP_S", 2);
  const dataDir = mkdtempSync(path.join(tmpdir(), "orchestrator-throughput-"));
  const dbUrl = `file:${path.join(dataDir, "orchestrator.db")}`;
  let server: ChildProcess | undefined;
  try {
    // The workflow and its trigger are stored before the server starts, as a user would have saved them.
    const hookPath = await saveThroughputHook(dataDir, dbUrl);
    const port = await freePort();
    server = await startServer(dataDir, port);
    const url = `http://127.0.0.1:${port}${hookPath}?wait=true`;
    await probeHook(url);

    const ok = (r: Result) => r.statusCodeStats["200"]?.count ?? 0;
    let answered = 1;
    if (warmup > 0) answered += ok(await load(url, connections, warmup));
    const cpuBefore = cpuMs(server.pid);
    const result = await load(url, connections, duration);
    const cpuAfter = cpuMs(server.pid);
    answered += ok(result);
    await stopServer(server);

    const sqlite = new Database(path.join(dataDir, "orchestrator.db"), { readonly: true });
    const counts = sqlite.prepare(`SELECT "status", COUNT(*) AS n FROM "Run" GROUP BY "status"`).all() as Array<{ status: string; n: number }>;
    sqlite.close();
    const succeeded = counts.find((c) => c.status === "succeeded")?.n ?? 0;
    const runsPerSecond = ok(result) / duration;
    const { p50, p97_5, p99 } = result.latency;
    console.log(
      `throughput (webhook ?wait=true, 2 transform steps, ${connections} connections, ${duration} s, SQLite): ${runsPerSecond.toFixed(1)} runs/s, ` +
        `latency p50 ${p50} ms, p97.5 ${p97_5} ms, p99 ${p99} ms; ${ok(result)} answered 200, ${result.requests.total - ok(result)} other, ${result.errors} errors, ${result.timeouts} timeouts (goal >= 3.5x n8n, p99 <= 100 ms)`,
    );
    // Every answered run is recorded; requests cut off when a load phase stopped (at most one per connection)
    // may have run to success without their answer being counted.
    const recorded = succeeded >= answered && succeeded <= answered + connections * (warmup > 0 ? 2 : 1);
    // CPU per run is steadier than runs/s on a shared machine: compare it across changes.
    if (cpuBefore !== undefined && cpuAfter !== undefined && ok(result))
      console.log(`server CPU: ${((cpuAfter - cpuBefore) / ok(result)).toFixed(2)} ms per run (${((cpuAfter - cpuBefore) / (duration * 1000)).toFixed(2)} cores busy)`);
    console.log(`runs recorded: ${succeeded} succeeded for ${answered} answered 200 (incl. probe and warm-up); ${JSON.stringify(counts)} ${recorded ? "ok" : "MISMATCH"}`);
    if (!recorded || ok(result) !== result.requests.total) process.exitCode = 1;
    return { runsPerSecond, p50, p97_5, p99 };
  } finally {
    if (server) await stopServer(server);
    rmSync(dataDir, { recursive: true, force: true });
  }
}
