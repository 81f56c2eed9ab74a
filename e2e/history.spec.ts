import { writeFileSync } from "node:fs";
import path from "node:path";
import { expect, test, type Page } from "@playwright/test";
import { runCli } from "./fixtures/cli-process";
import { GATEWAY } from "./fixtures/server-process";

/**
 * The run history in the browser: filters and search kept in the URL, pages by cursor, bulk cancel and delete,
 * "run again", and comparing two runs. Runs are made with the real CLI against the server's database (trigger `cli`).
 */

const dataDir = process.env.E2E_DATA_DIR!;
// A CLI process cold-starting its expression workers on a loaded machine can pass the 1 s expression limit
// (EXPRESSION_LIMIT): these runs are about the history, so the limit is raised.
const cliEnv = { ...process.env, ORCHESTRATOR_DATA_DIR: dataDir, DATABASE_URL: "", LLM_GATEWAY_URL: `${GATEWAY}/v1`, LLM_API_KEY: "e2e", LOG_LEVEL: "warn", ORCHESTRATOR_EXPRESSION_TIMEOUT_MS: "20000" };
const tag = Date.now().toString(36);
const workflowId = `history-${tag}`;

function definitionFile(name: string, definition: unknown) {
  const file = path.join(dataDir, `${name}-${tag}.json`);
  writeFileSync(file, JSON.stringify(definition));
  return file;
}

const echo = {
  id: workflowId,
  name: `History ${tag}`,
  steps: [
    { id: "shout", type: "transform", config: { output: { text: "{{ $uppercase(input.topic) }}" } } },
    { id: "check", type: "transform", config: { output: "{{ input.n > 1 ? $error('too many ' & input.topic) : 'fine' }}" } },
  ],
  edges: [{ from: "shout", to: "check" }],
};
const waiting = { id: `history-wait-${tag}`, name: `History wait ${tag}`, steps: [{ id: "ok", type: "approval", config: { message: "ok?" } }] };

/** Runs made for this file: four of `echo` (the last fails), one waiting at an approval. */
const runs: { ids: string[]; failed: string; waiting: string } = { ids: [], failed: "", waiting: "" };

async function cliRun(file: string, input: unknown): Promise<string> {
  const res = await runCli(["run", file, "--input", JSON.stringify(input), "--json"], { env: cliEnv });
  const out = JSON.parse(res.stdout) as { runId: string };
  return out.runId;
}

test.beforeAll(async () => {
  const file = definitionFile("echo", echo);
  for (const [i, topic] of ["aardvark one", "aardvark two", "badger three"].entries()) runs.ids.push(await cliRun(file, { topic: `${topic} ${tag}`, n: i === 0 ? 0 : 1 }));
  runs.failed = await cliRun(file, { topic: `aardvark four ${tag}`, n: 2 });
  runs.waiting = await cliRun(definitionFile("wait", waiting), { topic: `waiting ${tag}` });
});

const rowsOf = (page: Page) => page.locator('[data-testid^="run-row-"]');

test("filters and searches, keeping them in the URL, and pages by cursor", async ({ page }) => {
  // The editor links to the workflow's runs.
  await page.goto(`/workflows/${workflowId}`);
  await page.getByTestId("workflow-runs").click();
  await expect(page).toHaveURL(new RegExp(`/runs\\?workflow=${workflowId}$`));
  await expect(rowsOf(page)).toHaveCount(4);
  await expect(page.getByTestId(`run-row-${runs.ids[0]}`).getByTestId("run-trigger")).toHaveText("cli");

  await page.getByTestId("filter-search").fill(`AARDVARK`);
  await page.getByTestId("filter-apply").click();
  await expect(page).toHaveURL(/search=AARDVARK/);
  await expect(rowsOf(page)).toHaveCount(3);
  await expect(page.getByTestId(`run-row-${runs.ids[2]}`)).toHaveCount(0);

  await page.getByTestId("filter-status").selectOption("failed");
  await page.getByTestId("filter-apply").click();
  await expect(page).toHaveURL(/status=failed/);
  await expect(rowsOf(page)).toHaveCount(1);
  await expect(page.getByTestId(`run-row-${runs.failed}`)).toBeVisible();

  // The URL is the filter: opened again (shared), it shows the same list.
  await page.goto(page.url());
  await expect(page.getByTestId("filter-search")).toHaveValue("AARDVARK");
  await expect(rowsOf(page)).toHaveCount(1);

  // A refused filter says which field and why.
  await page.goto(`/runs?workflow=${workflowId}&search=ab`);
  await expect(page.getByTestId("runs-filter-error")).toContainText("search: enter at least 3 characters");

  // Pages of two, oldest first: 1-2, then 3-4, and back to the first page.
  await page.goto(`/runs?workflow=${workflowId}&order=asc&limit=2`);
  await expect(rowsOf(page)).toHaveCount(2);
  await expect(rowsOf(page).first()).toHaveAttribute("data-testid", `run-row-${runs.ids[0]}`);
  await page.getByTestId("runs-next-page").click();
  await expect(page).toHaveURL(/cursor=/);
  await expect(rowsOf(page)).toHaveCount(2);
  await expect(rowsOf(page).first()).toHaveAttribute("data-testid", `run-row-${runs.ids[2]}`);
  await expect(rowsOf(page).last()).toHaveAttribute("data-testid", `run-row-${runs.failed}`);
  await expect(page.getByTestId("runs-next-page")).toHaveCount(0);
  await page.getByTestId("runs-first-page").click();
  await expect(rowsOf(page).first()).toHaveAttribute("data-testid", `run-row-${runs.ids[0]}`);
});

test("compares two selected runs side by side, differences highlighted", async ({ page }) => {
  await page.goto(`/runs?workflow=${workflowId}`);
  await expect(page.getByTestId("bulk-compare")).toBeDisabled();
  await page.getByTestId(`select-run-${runs.ids[0]}`).check();
  await page.getByTestId(`select-run-${runs.failed}`).check();
  await page.getByTestId("bulk-compare").click();
  await expect(page).toHaveURL(/\/runs\/compare\?a=.+&b=.+/);
  await expect(page.getByTestId("compare-input-diff")).toContainText("$.topic");
  await expect(page.getByTestId("compare-input-diff")).toContainText("$.n");
  await expect(page.getByTestId("compare-step-shout")).toHaveAttribute("data-same", "false");
  await expect(page.getByTestId("compare-output-diff-shout")).toContainText(`AARDVARK ONE ${tag.toUpperCase()}`);
  await expect(page.getByTestId("compare-step-check")).toContainText("failed");
  // Not a run the user can see: not found.
  const missing = await page.goto("/runs/compare?a=run_nope&b=run_nope2");
  expect(missing?.status()).toBe(404);
});

test("runs a run again with the same input, from the list and from the run page", async ({ page }) => {
  await page.goto(`/runs?workflow=${workflowId}`);
  await page.getByTestId(`run-again-${runs.ids[1]}`).click();
  await expect(page).toHaveURL(/\/runs\/run_/);
  await expect(page.getByTestId("run-page-status")).toHaveAttribute("data-status", "succeeded", { timeout: 15_000 });
  const again = page.url().split("/runs/")[1];
  expect(again).not.toBe(runs.ids[1]);
  await expect(page.getByTestId("step-output-shout")).toContainText(`AARDVARK TWO ${tag.toUpperCase()}`);

  // From the run page, on the latest version.
  await page.getByTestId(`run-again-latest-${again}`).click();
  await expect(page).not.toHaveURL(new RegExp(again));
  await expect(page.getByTestId("run-page-status")).toHaveAttribute("data-status", "succeeded", { timeout: 15_000 });

  await page.goto(`/runs?workflow=${workflowId}&trigger=ui`);
  await expect(rowsOf(page)).toHaveCount(2);
});

test("cancels and deletes selected runs; delete waits until the selected runs have ended", async ({ page }) => {
  await page.goto(`/runs?search=${tag}`);
  await expect(page.getByTestId(`run-row-${runs.waiting}`)).toBeVisible();
  await page.getByTestId(`select-run-${runs.waiting}`).check();
  await page.getByTestId(`select-run-${runs.ids[2]}`).check();
  await expect(page.getByTestId("bulk-delete")).toBeDisabled(); // the waiting run must be cancelled first
  await page.getByTestId("bulk-cancel").click();
  await expect(page.getByTestId("runs-notice")).toContainText("Cancelled: 1 run");
  await expect(page.getByTestId("runs-notice")).toContainText("has already succeeded");
  await expect(page.getByTestId(`run-row-${runs.waiting}`).locator("[data-status]")).toHaveAttribute("data-status", "cancelled");

  page.on("dialog", (dialog) => void dialog.accept());
  await page.getByTestId(`select-run-${runs.waiting}`).check();
  await page.getByTestId(`select-run-${runs.ids[2]}`).check();
  await page.getByTestId("bulk-delete").click();
  await expect(page.getByTestId("runs-notice")).toContainText("Deleted: 2 runs");
  await expect(page.getByTestId(`run-row-${runs.waiting}`)).toHaveCount(0);
  await expect(page.getByTestId(`run-row-${runs.ids[2]}`)).toHaveCount(0);
  expect((await page.goto(`/runs/${runs.ids[2]}`))?.status()).toBe(404);
});
