import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect, test } from "@playwright/test";
import { Redis } from "ioredis";
import pg from "pg";
import { signInOwner } from "./fixtures/auth";
import { POSTGRES_BASE_URL } from "./fixtures/databases";
import { exited, GATEWAY } from "./fixtures/server-process";
import { EditorPage } from "./pages/editor";

/**
 * Queue mode as README describes it, watched in the browser: a web process (`server.ts`, EXECUTION_MODE=queue) and
 * two workers (`worker.ts`) as real child processes, on a Postgres database of their own and Redis (db
 * E2E_QUEUE_REDIS_DB, default 12; keys under a prefix of this test's own, deleted after). A run started in the
 * editor executes on a worker; its node statuses and streamed tokens reach the browser live (workers write no
 * streamed text to the database: tokens can only come through Redis). Skipped, saying why, without Postgres or Redis.
 */
const PORT = Number(process.env.E2E_PORT ?? 3100) + 7;
const BASE = `http://127.0.0.1:${PORT}`;
const REDIS_URL = `redis://127.0.0.1:6379/${process.env.E2E_QUEUE_REDIS_DB ?? 12}`;
const WORDS = Array.from({ length: 24 }, (_, i) => `q${i + 1}`).join(" ");

async function unavailable(): Promise<string | null> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1500 });
  try {
    await redis.connect();
  } catch (err) {
    return `Redis at ${REDIS_URL} is not reachable (${(err as Error).message})`;
  } finally {
    redis.disconnect();
  }
  const client = new pg.Client({ connectionString: POSTGRES_BASE_URL, connectionTimeoutMillis: 1500 });
  try {
    await client.connect();
    return null;
  } catch (err) {
    return `Postgres at ${POSTGRES_BASE_URL} is not reachable (${(err as Error).message})`;
  } finally {
    await client.end().catch(() => {});
  }
}

interface Proc {
  child: ChildProcess;
  output: () => string;
}

function start(script: "server.ts" | "worker.ts", env: NodeJS.ProcessEnv): Proc {
  const child = spawn(process.execPath, ["--import", "tsx", script], { env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));
  return { child, output: () => output };
}

const processIdOf = async (worker: Proc) => {
  await expect.poll(() => /process (proc_[\w-]+)/.exec(worker.output())?.[1] ?? worker.output().slice(-300), { timeout: 60_000 }).toMatch(/^proc_/);
  return /process (proc_[\w-]+)/.exec(worker.output())![1];
};

test("queue mode: a run started in the browser executes on a worker and is watched live, tokens streaming", async ({ page, request }) => {
  const reason = await unavailable();
  test.skip(reason !== null, `${reason}: queue mode needs Postgres and Redis`);
  test.setTimeout(300_000);

  const dbName = `h_rt_e2e_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 6)}`;
  const admin = new pg.Client({ connectionString: POSTGRES_BASE_URL });
  await admin.connect();
  await admin.query(`create database "${dbName}"`);
  const dbUrl = new URL(POSTGRES_BASE_URL);
  dbUrl.pathname = `/${dbName}`;
  const prefix = `rt-e2e-${Math.random().toString(36).slice(2, 10)}`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: "production",
    EXECUTION_MODE: "queue",
    DATABASE_URL: dbUrl.toString(),
    REDIS_URL,
    ORCHESTRATOR_QUEUE_PREFIX: prefix,
    ORCHESTRATOR_DATA_DIR: mkdtempSync(path.join(tmpdir(), "orchestrator-queue-e2e-")),
    LLM_GATEWAY_URL: `${GATEWAY}/v1`,
    LLM_API_KEY: "e2e",
    WORKER_CONCURRENCY: "2",
    LOG_LEVEL: "warn",
  };
  const procs: Proc[] = [];
  try {
    // The web process first: it migrates the database the workers then share.
    const web = start("server.ts", { ...env, PORT: String(PORT) });
    procs.push(web);
    // Generous: a busy machine, Next starting, and the migrations of a fresh database.
    await expect.poll(async () => (await fetch(`${BASE}/api/health`).catch(() => undefined))?.status ?? web.output().slice(-500), { timeout: 150_000, intervals: [250] }).toBe(200);
    const workers = [start("worker.ts", env), start("worker.ts", env)];
    procs.push(...workers);
    const workerIds = await Promise.all(workers.map(processIdOf));
    await expect.poll(async () => (await (await request.get(`${BASE}/api/health`)).json()).workers, { timeout: 30_000 }).toBe(2);
    expect((await (await request.get(`${BASE}/api/health`)).json()).mode).toBe("queue");

    await signInOwner(page, BASE);
    const editor = new EditorPage(page);
    await page.goto(`${BASE}/workflows/new`);
    await page.getByTestId("palette-llm").click();
    await page.locator('.react-flow__node[data-id="llm_1"]').click();
    await page.getByTestId("field-model").fill("drip-200");
    await page.getByTestId("field-prompt").fill(WORDS);
    await page.getByTestId("run-button").click();

    await expect(editor.status("llm_1")).toHaveAttribute("data-status", "running", { timeout: 30_000 });
    // Executed by a worker: the run's lease is held by one of the two worker processes while it runs.
    const runHref = await page.getByTestId("open-run").getAttribute("href");
    const runId = runHref!.split("/").at(-1)!;
    const db = new pg.Client({ connectionString: dbUrl.toString() });
    await db.connect();
    try {
      const { rows } = await db.query(`select "leaseOwner", "status" from "Run" where "id" = $1`, [runId]);
      expect(rows[0]).toMatchObject({ status: "running" });
      expect(workerIds).toContain(rows[0].leaseOwner);
    } finally {
      await db.end();
    }

    // Tokens stream while the step still runs (the text grows, its end not there yet).
    await editor.select("llm_1");
    await page.getByTestId("inspector-tab-run").click();
    await expect(page.getByTestId("step-tokens")).toContainText("Echo: q1 q2 q3");
    const early = (await page.getByTestId("step-tokens").textContent()) ?? "";
    expect(early).not.toContain("q24");
    expect(await editor.status("llm_1").getAttribute("data-status")).toBe("running");
    await expect.poll(async () => (await page.getByTestId("step-tokens").textContent())?.length ?? 0).toBeGreaterThan(early.length);

    await expect(editor.status("llm_1")).toHaveAttribute("data-status", "succeeded", { timeout: 30_000 });
    await expect(page.getByTestId("step-tokens")).toHaveText(`Echo: ${WORDS}`);
    await expect(page.getByTestId("run-status")).toHaveAttribute("data-status", "succeeded");

    // The run page shows the worker's result too.
    await page.goto(`${BASE}${runHref}`);
    await expect(page.getByTestId("run-page-status")).toHaveAttribute("data-status", "succeeded");
    await expect(page.getByTestId("step-output-llm_1")).toContainText(`Echo: ${WORDS}`);
  } finally {
    for (const proc of procs) proc.child.kill("SIGTERM");
    await Promise.all(procs.map((proc) => Promise.race([exited(proc.child), new Promise((r) => setTimeout(r, 10_000))])));
    for (const proc of procs) proc.child.kill("SIGKILL");
    await admin.query(`drop database if exists "${dbName}" with (force)`).catch(() => {});
    await admin.end();
    const redis = new Redis(REDIS_URL);
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  }
});
