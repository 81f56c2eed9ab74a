import type { ChildProcess } from "node:child_process";
import { expect, test } from "@playwright/test";
import { signInOwner } from "./fixtures/auth";
import { crashTestEnv, GATEWAY, ready, startServer as startServerProcess } from "./fixtures/server-process";

/**
 * The server process is killed with SIGKILL while a run's step is in flight; a new server process on the same
 * database takes the run over once its lease expires and finishes it from its last checkpoint, without
 * repeating the step that had finished. Uses the production build made for the e2e suite.
 */
const env = crashTestEnv("crash");
const dataDir = env.ORCHESTRATOR_DATA_DIR;
const startServer = (port: number) => startServerProcess(port, env);

test("a run survives kill -9 of the server and finishes in the next one", async ({ page, request }) => {
  test.setTimeout(90_000);
  const tag = `crash-${Date.now()}`;
  const first = startServer(3201);
  let second: ChildProcess | undefined;
  try {
    await ready("http://127.0.0.1:3201/");
    await signInOwner(page, "http://127.0.0.1:3201"); // its own database: the first-run setup (the session outlives the restart)
    await page.goto("http://127.0.0.1:3201/workflows/new");
    await page.getByTestId("palette-llm").click();
    await page.getByTestId("palette-llm").click();
    await page.locator('.react-flow__node[data-id="llm_1"] .react-flow__handle.source').dragTo(page.locator('.react-flow__node[data-id="llm_2"] .react-flow__handle.target'));
    await page.locator('.react-flow__node[data-id="llm_1"]').click();
    await page.getByTestId("field-model").fill("slow-100");
    await page.getByTestId("field-prompt").fill(`alpha ${tag}`);
    await page.locator('.react-flow__node[data-id="llm_2"]').click();
    await page.getByTestId("field-model").fill("slow-4000");
    await page.getByTestId("field-prompt").fill(`beta ${tag}`);
    await page.getByTestId("run-button").click();
    await expect(page.getByTestId("node-llm_2")).toHaveAttribute("data-status", "running");
    const runHref = await page.getByTestId("open-run").getAttribute("href");

    first.kill("SIGKILL");
    await new Promise((resolve) => first.once("exit", resolve));

    second = startServer(3202);
    await ready("http://127.0.0.1:3202/");
    await page.goto(`http://127.0.0.1:3202${runHref}`);
    await expect(page.getByTestId("run-page-status")).toHaveAttribute("data-status", "succeeded", { timeout: 20_000 });
    await expect(page.getByTestId("step-output-llm_1")).toContainText(`Echo: alpha ${tag}`);
    await expect(page.getByTestId("step-output-llm_2")).toContainText(`Echo: beta ${tag}`);

    const log: Array<{ messages: Array<{ content: string }>; finishedAt?: number }> = await (await request.get(`${GATEWAY}/__log`)).json();
    const sent = (text: string) => log.filter((r) => r.messages.at(-1)?.content === text);
    expect(sent(`alpha ${tag}`)).toHaveLength(1); // finished before the kill: not repeated
    expect(sent(`beta ${tag}`).filter((r) => r.finishedAt !== undefined)).toHaveLength(1);
  } finally {
    first.kill("SIGKILL");
    second?.kill("SIGTERM");
  }
});
