import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect, test, type APIRequestContext, type Page } from "@playwright/test";
import { exited, GATEWAY } from "./fixtures/server-process";
import { EditorPage } from "./pages/editor";

/**
 * Live state that survives a reload: the editor and the run page opened (or reloaded) while a run goes on show it
 * live — statuses, Cancel, Open run, the text streamed so far and what follows —, whoever started the run (the
 * editor, the CLI in its own process, a webhook). Failed nodes show their error on the canvas; steps a cancel
 * stops show `cancelled`. The test gateway's `drip-<ms>` model streams one word every <ms> milliseconds.
 */

const WORDS = Array.from({ length: 30 }, (_, i) => `w${i + 1}`).join(" ");
const FULL_TEXT = `Echo: ${WORDS}`;

/** The environment of a CLI process on the suite's server's data directory. */
const cliEnv = (): NodeJS.ProcessEnv => ({
  ...process.env,
  ORCHESTRATOR_DATA_DIR: process.env.E2E_DATA_DIR,
  DATABASE_URL: "",
  LLM_GATEWAY_URL: `${GATEWAY}/v1`,
  LLM_API_KEY: "e2e",
  LOG_LEVEL: "warn",
});

function cli(args: string[]): ChildProcess {
  return spawn(process.execPath, [path.resolve("bin/orchestrator.mjs"), ...args], { env: cliEnv(), stdio: ["ignore", "pipe", "pipe"] });
}

async function cliOutput(args: string[]): Promise<string> {
  const child = cli(args);
  let out = "";
  let err = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (err += d));
  await exited(child);
  if (child.exitCode !== 0) throw new Error(`orchestrator ${args.join(" ")} exited ${child.exitCode}: ${err}`);
  return out;
}

/** A workflow file: a streaming LLM step (`model`) followed by a transform. */
function workflowFile(id: string, model: string): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), "orchestrator-live-e2e-")), `${id}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      id,
      name: `Live ${id}`,
      steps: [
        { id: "ask", type: "llm", config: { model, prompt: WORDS } },
        { id: "shape", type: "transform", config: { output: "{{ steps.ask.text }}!" } },
      ],
    }),
  );
  return file;
}

/** Saves the workflow with the CLI (its first version) and returns the file to run it from. */
async function importWorkflow(id: string, model = "drip-250"): Promise<string> {
  const file = workflowFile(id, model);
  await cliOutput(["import", file]);
  return file;
}

const uniqueId = (prefix: string) => `${prefix}-${Date.now().toString(36)}`;

/** The streamed text shown in the inspector's Run output tab of the selected step. */
const streamedText = async (page: Page) => (await page.getByTestId("step-tokens").textContent()) ?? "";

test("reloading the editor mid-run brings back the statuses, Cancel, Open run and the streamed text, which goes on", async ({ page }) => {
  const id = uniqueId("reload");
  await importWorkflow(id);
  const editor = new EditorPage(page);
  await page.goto(`/workflows/${id}`);
  await page.getByTestId("run-button").click();
  await expect(editor.status("ask")).toHaveAttribute("data-status", "running", { timeout: 15_000 });
  await editor.select("ask");
  await page.getByTestId("inspector-tab-run").click();
  await expect(page.getByTestId("step-tokens")).toContainText("Echo: w1 w2 w3");
  const runHref = await page.getByTestId("open-run").getAttribute("href");
  const beforeReload = await streamedText(page);

  await page.reload();
  await expect(editor.status("ask")).toHaveAttribute("data-status", "running");
  await expect(editor.status("shape")).toHaveAttribute("data-status", "idle");
  await expect(page.getByTestId("run-status")).toHaveAttribute("data-status", "running");
  await expect(page.getByTestId("cancel-run")).toBeVisible();
  await expect(page.getByTestId("open-run")).toHaveAttribute("href", runHref!);
  // The Run output tab (open by default once a run is shown) has the text streamed before the reload, while the
  // step still runs, and then the rest of it as it comes.
  await editor.select("ask");
  await expect(page.getByTestId("step-run-status")).toHaveAttribute("data-status", "running");
  await expect(page.getByTestId("step-tokens")).toContainText(beforeReload.trim());
  expect(await editor.status("ask").getAttribute("data-status")).toBe("running");
  const afterReload = await streamedText(page);
  await expect.poll(() => streamedText(page)).not.toBe(afterReload);
  await expect(editor.status("ask")).toHaveAttribute("data-status", "succeeded", { timeout: 20_000 });
  await expect(page.getByTestId("step-tokens")).toHaveText(FULL_TEXT);
  await expect(editor.status("shape")).toHaveAttribute("data-status", "succeeded");
  await expect(page.getByTestId("run-status")).toHaveAttribute("data-status", "succeeded");
  await expect(page.getByTestId("cancel-run")).toHaveCount(0);
});

/** Starts `orchestrator run <file> --json` and waits until its LLM call is under way; `result()` is its JSON. */
async function startCliRun(request: APIRequestContext, file: string, model: string) {
  const since = Date.now();
  const child = cli(["run", file, "--json"]);
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  await expect
    .poll(
      async () => {
        const log: Array<{ model: string; startedAt: number }> = await (await request.get(`${GATEWAY}/__log`)).json();
        return log.some((r) => r.model === model && r.startedAt >= since);
      },
      { timeout: 20_000 },
    )
    .toBe(true);
  return {
    child,
    result: async (): Promise<{ runId: string; status: string }> => {
      await exited(child);
      return JSON.parse(out);
    },
  };
}

test("opening a workflow whose run the CLI started shows that run live, its streamed text included", async ({ page, request }) => {
  const id = uniqueId("cli");
  const file = await importWorkflow(id, "drip-250");
  // The run executes in the CLI's process; once its LLM call is under way, the editor is opened and finds it.
  const run = await startCliRun(request, file, "drip-250");
  try {
    const editor = new EditorPage(page);
    await page.goto(`/workflows/${id}`);
    await expect(page.getByTestId("run-status")).toHaveAttribute("data-status", "running");
    await expect(editor.status("ask")).toHaveAttribute("data-status", "running");
    await expect(page.getByTestId("cancel-run")).toBeVisible();
    // The text the CLI's process streamed so far, then more of it as it comes (stored there in chunks, relayed
    // by the server).
    await editor.select("ask");
    await page.getByTestId("inspector-tab-run").click();
    await expect(page.getByTestId("step-tokens")).toContainText("Echo: w1 w2");
    expect(await editor.status("ask").getAttribute("data-status")).toBe("running");
    const seen = await streamedText(page);
    expect(FULL_TEXT.startsWith(seen)).toBe(true);
    await expect.poll(async () => (await streamedText(page)).length).toBeGreaterThan(seen.length);
    // Followed live from the run's event log: the steps end while the page stays open.
    await expect(editor.status("ask")).toHaveAttribute("data-status", "succeeded", { timeout: 20_000 });
    await expect(page.getByTestId("step-tokens")).toHaveText(FULL_TEXT);
    await expect(editor.status("shape")).toHaveAttribute("data-status", "succeeded");
    await expect(page.getByTestId("run-status")).toHaveAttribute("data-status", "succeeded");
    const { runId, status } = await run.result();
    expect(status).toBe("succeeded");
    await expect(page.getByTestId("open-run")).toHaveAttribute("href", `/runs/${runId}`);
  } finally {
    run.child.kill();
  }
});

test("the run page of a run the CLI executes shows the step's streamed text growing, then its output", async ({ page, request }) => {
  const id = uniqueId("clipage");
  const file = await importWorkflow(id, "drip-250");
  const run = await startCliRun(request, file, "drip-250");
  try {
    // The run's page, reached from the editor that found the run.
    await page.goto(`/workflows/${id}`);
    await expect(page.getByTestId("open-run")).toHaveAttribute("href", /^\/runs\//);
    await page.getByTestId("open-run").click();
    const tokens = page.getByTestId("step-tokens-ask");
    await expect(page.getByTestId("step-status-ask")).toHaveAttribute("data-status", "running");
    await expect(tokens).toContainText("Echo: w1 w2");
    const seen = (await tokens.textContent()) ?? "";
    await expect.poll(async () => ((await tokens.textContent()) ?? "").length).toBeGreaterThan(seen.length);
    await expect(page.getByTestId("step-status-ask")).toHaveAttribute("data-status", "running");
    await expect(page.getByTestId("run-page-status")).toHaveAttribute("data-status", "succeeded", { timeout: 20_000 });
    await expect(page.getByTestId("step-output-ask")).toContainText(FULL_TEXT);
    expect((await run.result()).status).toBe("succeeded");
  } finally {
    run.child.kill();
  }
});

test("an editor left open notices a run a webhook starts and shows it live, streamed text included", async ({ page, request }) => {
  const id = uniqueId("hook");
  await importWorkflow(id, "drip-150");
  const editor = new EditorPage(page);
  await page.goto(`/workflows/${id}`);
  await page.getByTestId("webhook-enable").click();
  const url = (await page.getByTestId("webhook-url").textContent())!.trim();
  await editor.select("ask");
  await expect(page.getByTestId("run-status")).toHaveCount(0);

  const started = await request.post(url, { data: {} });
  expect(started.status()).toBe(202);
  const { runId } = await started.json();
  await expect(page.getByTestId("run-status")).toHaveAttribute("data-status", /queued|running/, { timeout: 5000 });
  await expect(page.getByTestId("open-run")).toHaveAttribute("href", `/runs/${runId}`);
  await expect(editor.status("ask")).toHaveAttribute("data-status", "running");
  await page.getByTestId("inspector-tab-run").click();
  await expect(page.getByTestId("step-tokens")).toContainText("Echo: w1");
  await expect(editor.status("ask")).toHaveAttribute("data-status", "succeeded", { timeout: 20_000 });
  await expect(page.getByTestId("step-tokens")).toHaveText(FULL_TEXT);
  await expect(page.getByTestId("run-status")).toHaveAttribute("data-status", "succeeded");
});

test("the run page shows the running step with its streamed text, live, also after a reload mid-step", async ({ page }) => {
  const id = uniqueId("page");
  await importWorkflow(id);
  await page.goto(`/workflows/${id}`);
  await page.getByTestId("run-button").click();
  await expect(page.getByTestId("node-ask")).toHaveAttribute("data-status", "running", { timeout: 15_000 });
  await page.getByTestId("open-run").click();

  const tokens = page.getByTestId("step-tokens-ask");
  await expect(page.getByTestId("step-status-ask")).toHaveAttribute("data-status", "running");
  await expect(tokens).toContainText("Echo: w1 w2");
  await expect(page.getByTestId("step-output-ask")).toHaveCount(0); // no `null` output for a running step
  await expect(page.getByTestId("run-graph").getByTestId("node-ask")).toHaveAttribute("data-status", "running");

  const beforeReload = (await tokens.textContent())!;
  await page.reload();
  await expect(page.getByTestId("step-status-ask")).toHaveAttribute("data-status", "running");
  await expect(tokens).toContainText(beforeReload.trim());
  const afterReload = (await tokens.textContent())!;
  await expect.poll(async () => (await tokens.textContent())?.length ?? 0).toBeGreaterThan(afterReload.length);
  await expect(page.getByTestId("run-graph").getByTestId("node-ask")).toHaveAttribute("data-status", "running");

  await expect(page.getByTestId("run-page-status")).toHaveAttribute("data-status", "succeeded", { timeout: 20_000 });
  await expect(page.getByTestId("step-output-ask")).toContainText(FULL_TEXT);
  await expect(page.getByTestId("step-status-ask")).toHaveAttribute("data-status", "succeeded");
});

test("a failed node shows its error on the canvas, in the editor and on the run page", async ({ page }) => {
  const id = uniqueId("fail");
  await importWorkflow(id, "fail-500");
  await page.goto(`/workflows/${id}`);
  await expect(page.getByTestId("node-error-ask")).toHaveCount(0);
  await page.getByTestId("run-button").click();
  await expect(page.getByTestId("node-ask")).toHaveAttribute("data-status", "failed", { timeout: 15_000 });
  const error = page.getByTestId("node-error-ask");
  await expect(error).toContainText("LLM_REQUEST_FAILED: ");
  const title = (await error.getAttribute("title"))!;
  expect(title).toMatch(/^LLM_REQUEST_FAILED: .*500/);
  await expect(page.getByTestId("node-error-shape")).toHaveCount(0);

  // And on the run page's canvas, from the stored run.
  await page.getByTestId("open-run").click();
  const onRunPage = page.getByTestId("run-graph").getByTestId("node-error-ask");
  await expect(onRunPage).toContainText("LLM_REQUEST_FAILED: ");
  await expect(onRunPage).toHaveAttribute("title", title);
});

test("cancelling a run shows the stopped step `cancelled`, in the editor and on the run page", async ({ page }) => {
  const id = uniqueId("cancel");
  await importWorkflow(id);
  await page.goto(`/workflows/${id}`);
  await page.getByTestId("run-button").click();
  await expect(page.getByTestId("node-ask")).toHaveAttribute("data-status", "running", { timeout: 15_000 });
  await page.reload(); // Cancel comes back with the run
  await page.getByTestId("cancel-run").click();
  await expect(page.getByTestId("run-status")).toHaveAttribute("data-status", "cancelled", { timeout: 5000 });
  await expect(page.getByTestId("node-ask")).toHaveAttribute("data-status", "cancelled");
  await expect(page.getByTestId("node-error-ask")).toHaveCount(0);
  await expect(page.getByTestId("node-shape")).toHaveAttribute("data-status", "idle");

  await page.getByTestId("open-run").click();
  await expect(page.getByTestId("run-page-status")).toHaveAttribute("data-status", "cancelled");
  await expect(page.getByTestId("step-status-ask")).toHaveAttribute("data-status", "cancelled");
  await expect(page.getByTestId("step-ask")).toContainText("CANCELLED: the run was cancelled while this step was running");
  await expect(page.getByTestId("run-graph").getByTestId("node-ask")).toHaveAttribute("data-status", "cancelled");
});
