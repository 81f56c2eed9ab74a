import { spawn, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { expect, test } from "@playwright/test";
import { signInOwner } from "./fixtures/auth";
import { crashTestEnv, GATEWAY, exited, ready, startServer as startServerProcess } from "./fixtures/server-process";

/**
 * A run that kills the process executing it must not take every server down with it. The run starts in a CLI
 * process; each server started on the same data directory takes it over (its step goes out to the test gateway
 * again) and is killed with SIGKILL while holding it, as a run that crashes its process would. The 4th server
 * answers HTTP and does not execute the run: it fails with CRASH_LOOP, and the run page's resume forces it.
 * Uses the production build made for the e2e suite.
 */
const env = crashTestEnv("crash-loop");
const dataDir = env.ORCHESTRATOR_DATA_DIR;

const startServer = (port: number) => startServerProcess(port, env);
const killed = exited;

test("a run that keeps killing the server fails CRASH_LOOP at the 4th takeover, and the server answers", async ({ page, request }) => {
  test.setTimeout(240_000);
  const tag = `loop-${Date.now()}`;
  const file = path.join(dataDir, "loop.json");
  writeFileSync(
    file,
    JSON.stringify({
      id: tag,
      name: "Crash loop",
      steps: [
        { id: "first", type: "llm", config: { model: "slow-100", prompt: `alpha ${tag}` } },
        { id: "second", type: "llm", config: { model: "slow-3000", prompt: `beta ${tag}` } },
      ],
    }),
  );
  const sent = async (text: string) => {
    const log: Array<{ messages: Array<{ content: string }>; finishedAt?: number }> = await (await request.get(`${GATEWAY}/__log`)).json();
    return log.filter((r) => r.messages.at(-1)?.content === text);
  };
  const inFlight = (executions: number) => expect.poll(async () => (await sent(`beta ${tag}`)).length, { timeout: 60_000 }).toBe(executions);

  const children: ChildProcess[] = [];
  try {
    const cli = spawn(process.execPath, [path.resolve("bin/orchestrator.mjs"), "run", file, "--json"], { env, cwd: dataDir, stdio: "ignore" });
    children.push(cli);
    await inFlight(1);
    cli.kill("SIGKILL");
    await killed(cli);

    const db = new Database(path.join(dataDir, "orchestrator.db"), { readonly: true });
    const runRow = () => db.prepare(`SELECT "id", "status", "takeovers" FROM "Run" WHERE "workflowId" = ?`).get(tag) as { id: string; status: string; takeovers: number };
    const runId = runRow().id;

    for (let takeover = 1; takeover <= 3; takeover++) {
      const server = startServer(3210 + takeover);
      children.push(server);
      await ready(`http://127.0.0.1:${3210 + takeover}/`); // answers while it has the run
      await inFlight(takeover + 1);
      expect(runRow()).toMatchObject({ status: "running", takeovers: takeover });
      server.kill("SIGKILL");
      await killed(server);
    }

    const fourth = startServer(3214);
    children.push(fourth);
    await ready("http://127.0.0.1:3214/");
    expect((await request.get("http://127.0.0.1:3214/")).status()).toBe(200);
    await signInOwner(page, "http://127.0.0.1:3214"); // its own database: the first-run setup claims the owner who ran it
    await page.goto(`http://127.0.0.1:3214/runs/${runId}`);
    await expect(page.getByTestId("run-page-status")).toHaveAttribute("data-status", "failed", { timeout: 20_000 });
    await expect(page.getByTestId("run-error")).toContainText("CRASH_LOOP");
    await expect(page.getByTestId("run-error")).toContainText(`orchestrator resume ${runId}`);
    expect(runRow()).toMatchObject({ status: "failed", takeovers: 4 });
    expect(await sent(`beta ${tag}`)).toHaveLength(4); // not executed by the 4th server
    expect((await request.get("http://127.0.0.1:3214/")).status()).toBe(200);

    // The run page's resume forces it: the step runs again and the run finishes.
    await page.getByTestId("resume-run").click();
    await expect(page.getByTestId("run-page-status")).toHaveAttribute("data-status", "succeeded", { timeout: 30_000 });
    expect(runRow()).toMatchObject({ status: "succeeded", takeovers: 0 });
    expect(await sent(`alpha ${tag}`)).toHaveLength(1);
    expect((await sent(`beta ${tag}`)).filter((r) => r.finishedAt !== undefined)).toHaveLength(1);
    db.close();
  } finally {
    for (const child of children) child.kill("SIGKILL");
  }
});
