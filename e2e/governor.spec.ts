import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect, test } from "@playwright/test";
import { exited, GATEWAY } from "./fixtures/server-process";
import { EditorPage } from "./pages/editor";

/**
 * The model governor from the browser: a limit set on the Settings page makes a step's call wait in line (the node
 * shows `waiting for rate limit`, the run page's timeline a throttled segment); a workflow budget set in the
 * editor stops a run with BUDGET_EXCEEDED before its call (the test gateway gets none).
 */

const uniqueId = (prefix: string) => `${prefix}-${Date.now().toString(36)}`;

/** Saves a workflow through the CLI (its own process, on the suite's data directory). */
async function importWorkflow(definition: object) {
  const file = path.join(mkdtempSync(path.join(tmpdir(), "orchestrator-gov-e2e-")), "workflow.json");
  writeFileSync(file, JSON.stringify(definition));
  const child = spawn(process.execPath, [path.resolve("bin/orchestrator.mjs"), "import", file], {
    env: { ...process.env, ORCHESTRATOR_DATA_DIR: process.env.E2E_DATA_DIR, DATABASE_URL: "", LLM_GATEWAY_URL: `${GATEWAY}/v1`, LLM_API_KEY: "e2e", LOG_LEVEL: "warn" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let err = "";
  child.stderr!.on("data", (d) => (err += d));
  await exited(child);
  if (child.exitCode !== 0) throw new Error(`import failed: ${err}`);
}

const gatewayLog = async () => (await (await fetch(`${GATEWAY}/__log`)).json()) as Array<{ model: string; messages: Array<{ content: string }> }>;

test("a limit set in Settings makes the second call wait in line: the node shows `waiting for rate limit`", async ({ page }) => {
  test.setTimeout(90_000);
  const model = uniqueId("gov-e2e");
  await page.goto("/settings");
  await expect(page.getByTestId("model-limits-add")).toBeVisible();
  // Rows other tests saved stay; the new one is added below them.
  const row = await page.locator('[data-testid^="model-limit-match-"]').count();
  await page.getByTestId("model-limits-add").click();
  await page.getByTestId(`model-limit-match-${row}`).fill(model);
  await page.getByTestId(`model-limit-rpm-${row}`).fill("0");
  await page.getByTestId("model-limits-save").click();
  await expect(page.getByTestId("model-limits-message")).toContainText(`row ${row + 1} rpm: rpm must be at least 1`);
  await page.getByTestId(`model-limit-rpm-${row}`).fill("1"); // one call a minute
  await page.getByTestId("model-limits-save").click();
  await expect(page.getByTestId("model-limits-message")).toHaveText("Saved");
  await page.reload();
  const saved = page.locator("tr", { has: page.locator(`input[value="${model}"]`) });
  await expect(saved.locator('[data-testid^="model-limit-rpm-"]')).toHaveValue("1");

  const id = uniqueId("gov-wait");
  await importWorkflow({
    id,
    name: "Governed",
    steps: [
      { id: "first", type: "llm", config: { model, prompt: "first call" } },
      { id: "second", type: "llm", config: { model, prompt: "second call" } },
    ],
  });
  await page.goto(`/workflows/${id}`);
  await page.getByTestId("run-button").click();
  await expect(page.getByTestId("node-first")).toHaveAttribute("data-status", "succeeded", { timeout: 20_000 });
  const throttled = page.getByTestId("node-throttled-second");
  await expect(throttled).toContainText("waiting for rate limit");
  await expect(throttled).toHaveAttribute("title", new RegExp(`model "${model}": requests per minute, about \\d+ s`));
  await expect(page.getByTestId("node-second")).toHaveAttribute("data-status", "running");

  // The run page shows it too (from the stored events), on the canvas and as a segment of the timeline.
  await page.getByTestId("open-run").click();
  await expect(page.getByTestId("run-graph").getByTestId("node-throttled-second")).toContainText("waiting for rate limit");
  await expect(page.getByTestId("timeline-bar-second#1").locator('[data-kind="throttled"]')).toHaveCount(1, { timeout: 20_000 });

  // Cancelling while it waits ends it at once; the second call was never made.
  await page.getByTestId("cancel-run").click();
  await expect(page.getByTestId("run-page-status")).toHaveAttribute("data-status", "cancelled", { timeout: 15_000 });
  expect((await gatewayLog()).filter((r) => r.model === model).map((r) => r.messages.at(-1)?.content)).toEqual(["first call"]);
});

test("a per-run budget set in the editor stops the run with BUDGET_EXCEEDED before the call", async ({ page }) => {
  const id = uniqueId("gov-budget");
  const prompt = `budgeted ${id}`;
  await importWorkflow({ id, name: "Budgeted", steps: [{ id: "ask", type: "llm", config: { model: "gpt-4o-mini", prompt, maxTokens: 1000 } }] });
  const editor = new EditorPage(page);
  await page.goto(`/workflows/${id}`);
  await editor.deselect();
  await page.getByTestId("workflow-budget-run").fill("0.0001"); // the call may cost up to ~$0.0006
  await editor.save();
  await expect(page.getByTestId("saved-version")).toContainText("v2");
  await expect(page.getByTestId("dirty-indicator")).toHaveCount(0);
  await page.getByTestId("run-button").click();
  await expect(page.getByTestId("node-ask")).toHaveAttribute("data-status", "failed", { timeout: 15_000 });
  const error = page.getByTestId("node-error-ask");
  await expect(error).toContainText("BUDGET_EXCEEDED: ");
  await expect(error).toHaveAttribute("title", /the run's budget of \$0\.00010 \(budget\.perRunUsd\) would be exceeded: it spent \$0\.00 so far/);
  expect((await gatewayLog()).filter((r) => r.messages.at(-1)?.content === prompt)).toEqual([]);
});
