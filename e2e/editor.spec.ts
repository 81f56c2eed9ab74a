import { expect, test } from "@playwright/test";
import { EditorPage } from "./pages/editor";

const GATEWAY_LOG = `http://127.0.0.1:${process.env.E2E_GATEWAY_PORT ?? 4010}/__log`;

test("build a workflow by drag and drop, save, validate, run live and open it from history", async ({ page, request }) => {
  const editor = new EditorPage(page);
  await editor.openNew();

  // Build: an LLM step feeding a transform, dragged from the palette.
  await editor.dragStep("llm", { x: 400, y: 120 });
  await editor.dragStep("transform", { x: 400, y: 330 });
  await expect(editor.node("llm_1")).toBeVisible();
  await expect(editor.node("transform_1")).toBeVisible();
  await editor.connect("llm_1", "transform_1");
  await expect(page.locator(".react-flow__edge")).toHaveCount(1);

  // Configure the LLM step; the slow test model keeps it running long enough to watch.
  await editor.select("llm_1");
  await editor.field("model").fill("slow-1500");
  await editor.field("prompt").fill("Say {{ input.topic }}");
  await editor.select("transform_1");
  await editor.field("output").fill('{ "answer": "{{ steps.llm_1.text }}" }');

  // Workflow settings: name and input schema.
  await editor.deselect();
  await page.getByTestId("workflow-name").fill("E2E greeting");
  await page.getByTestId("workflow-input-schema").fill('{ "type": "object", "properties": { "topic": { "type": "string" } }, "required": ["topic"] }');

  await editor.save();
  await expect(page.getByTestId("saved-version")).toContainText("v1");
  await expect(page.getByTestId("dirty-indicator")).toHaveCount(0);

  // A validation problem is shown on the offending node, and nothing is saved.
  await editor.select("transform_1");
  await editor.field("output").fill('{ "answer": "{{ steps.nowhere.text }}" }');
  await editor.save();
  await expect(page.getByTestId("node-issue-transform_1")).toContainText('"steps.nowhere" refers to a step that does not exist');
  await expect(editor.status("transform_1")).toHaveAttribute("data-invalid", "true");
  await expect(page.getByTestId("saved-version")).toContainText("v1");
  await editor.field("output").fill('{ "answer": "{{ steps.llm_1.text }}" }');
  await editor.save();
  await expect(page.getByTestId("saved-version")).toContainText("v2");
  await expect(page.getByTestId("node-issue-transform_1")).toHaveCount(0);

  // Run with input and watch the nodes change state live.
  await request.delete(GATEWAY_LOG);
  await editor.select("llm_1");
  await page.getByTestId("run-button").click();
  await page.getByTestId("input-topic").fill("cats");
  // The estimate prices the rendered prompt (the test model has no price, and says so).
  await expect(page.getByTestId("cost-estimate")).toContainText("1 LLM call");
  await expect(page.getByTestId("cost-estimate")).toContainText("no price for slow-1500");
  await page.getByTestId("run-submit").click();
  await expect(editor.status("llm_1")).toHaveAttribute("data-status", "running");
  await expect(editor.status("transform_1")).toHaveAttribute("data-status", "idle");
  await expect(editor.status("llm_1")).toHaveAttribute("data-status", "succeeded", { timeout: 15_000 });
  await expect(editor.status("transform_1")).toHaveAttribute("data-status", "succeeded");
  await expect(page.getByTestId("run-status")).toHaveAttribute("data-status", "succeeded");
  // Tokens streamed into the selected step's panel.
  await page.getByTestId("inspector-tab-run").click();
  await expect(page.getByTestId("step-tokens")).toHaveText("Echo: Say cats");
  const log = await (await request.get(GATEWAY_LOG)).json();
  expect(log).toHaveLength(1);

  // History, newest first, and the run page with each step's output.
  await page.getByTestId("nav-runs").click();
  const firstRow = page.locator('[data-testid^="run-row-"]').first();
  await expect(firstRow).toContainText("E2E greeting");
  await expect(firstRow).toContainText("succeeded");
  await firstRow.getByRole("link", { name: "E2E greeting" }).click();
  await expect(page.getByTestId("run-page-status")).toHaveAttribute("data-status", "succeeded");
  await expect(page.getByTestId("run-input")).toContainText('"topic": "cats"');
  await expect(page.getByTestId("step-output-llm_1")).toContainText('"text": "Echo: Say cats"');
  await expect(page.getByTestId("step-output-transform_1")).toContainText('"answer": "Echo: Say cats"');
});

test("a failing step shows as failed live and on the run page with its error", async ({ page }) => {
  const editor = new EditorPage(page);
  await editor.openNew();
  await editor.dragStep("llm", { x: 400, y: 150 });
  await editor.select("llm_1");
  await editor.field("model").fill("fail-500");
  await editor.field("prompt").fill("hello");
  await page.getByTestId("run-button").click(); // saves first, then runs (no input declared)
  await expect(editor.status("llm_1")).toHaveAttribute("data-status", "failed", { timeout: 15_000 });
  await expect(page.getByTestId("run-status")).toHaveAttribute("data-status", "failed");
  await page.getByTestId("open-run").click();
  await expect(page.getByTestId("run-error")).toContainText("LLM_REQUEST_FAILED");
  await expect(page.getByTestId("step-llm_1")).toContainText("HTTP 500");
});

test("a condition routes along the true/false handles drawn on the canvas", async ({ page }) => {
  const editor = new EditorPage(page);
  await editor.openNew();
  await editor.dragStep("condition", { x: 400, y: 80 });
  await editor.dragStep("transform", { x: 250, y: 300 });
  await editor.dragStep("transform", { x: 560, y: 300 });
  await editor.connect("condition_1", "transform_1", "true");
  await editor.connect("condition_1", "transform_2", "false");
  await expect(page.locator(".react-flow__edge")).toHaveCount(2);

  await editor.select("condition_1");
  await editor.field("expression").fill("input.n > 10");
  await editor.select("transform_1");
  await editor.field("output").fill('"big"');
  await editor.select("transform_2");
  await editor.field("output").fill('"small"');
  await editor.deselect();
  await page.getByTestId("workflow-input-schema").fill('{ "type": "object", "properties": { "n": { "type": "number" } }, "required": ["n"] }');

  await page.getByTestId("run-button").click();
  await page.getByTestId("input-n").fill("3");
  await page.getByTestId("run-submit").click();
  await expect(page.getByTestId("run-status")).toHaveAttribute("data-status", "succeeded", { timeout: 15_000 });
  await expect(editor.status("condition_1")).toHaveAttribute("data-status", "succeeded");
  await expect(editor.status("transform_2")).toHaveAttribute("data-status", "succeeded");
  await expect(editor.status("transform_1")).toHaveAttribute("data-status", "idle");

  // The run page lists only the branch that was taken.
  await page.getByTestId("open-run").click();
  await expect(page.getByTestId("step-output-transform_2")).toContainText('"small"');
  await expect(page.getByTestId("step-transform_1")).toHaveCount(0);
});

test("a loop stops at the per-step limit set in the workflow panel, naming the step", async ({ page }) => {
  const editor = new EditorPage(page);
  await editor.openNew();
  await editor.dragStep("transform", { x: 400, y: 80 });
  await editor.dragStep("condition", { x: 400, y: 300 });
  await editor.connect("transform_1", "condition_1");
  await editor.connect("condition_1", "transform_1", "true"); // an endless loop
  await editor.select("transform_1");
  await editor.field("output").fill('"again"');
  await editor.select("condition_1");
  await editor.field("expression").fill("true");
  await editor.deselect();
  await page.getByTestId("workflow-max-iterations").fill("3");

  await page.getByTestId("run-button").click();
  await expect(page.getByTestId("run-status")).toHaveAttribute("data-status", "failed", { timeout: 15_000 });
  await page.getByTestId("open-run").click();
  await expect(page.getByTestId("run-error")).toContainText("LOOP_LIMIT");
  await expect(page.getByTestId("run-error")).toContainText('step "transform_1" reached its limit of 3 executions');
});

test("retries and error routes set in the inspector: a flaky call is retried, a failing one follows its error handle", async ({ page }) => {
  const tag = `t${Date.now()}`; // the test gateway counts flaky failures per prompt
  const editor = new EditorPage(page);
  await editor.openNew();
  await editor.dragStep("llm", { x: 400, y: 60 });
  await editor.dragStep("llm", { x: 400, y: 240 });
  await editor.dragStep("transform", { x: 700, y: 420 });
  await editor.connect("llm_1", "llm_2");

  await editor.select("llm_1");
  await editor.field("model").fill("flaky-2");
  await editor.field("prompt").fill(`first ${tag}`);
  await editor.field("retry-attempts").fill("3");
  await expect(page.getByTestId("retry-backoff")).toBeVisible();
  await editor.field("retry-initial-delay").fill("20");
  await editor.field("retry-jitter").uncheck();

  await editor.select("llm_2");
  await editor.field("model").fill("fail-400");
  await editor.field("prompt").fill(`second ${tag}`);
  await editor.field("retry-attempts").fill("3"); // a 4xx is not retried anyway
  await editor.field("on-error").selectOption("route");
  await editor.connect("llm_2", "transform_1", "error");
  await editor.select("transform_1");
  await editor.field("output").fill('"recovered from {{ steps.llm_2.error.code }}"');
  await editor.save();
  await expect(page.getByTestId("saved-version")).toContainText("v1");

  await page.getByTestId("run-button").click();
  await expect(page.getByTestId("run-status")).toHaveAttribute("data-status", "succeeded", { timeout: 15_000 });
  await expect(editor.status("llm_2")).toHaveAttribute("data-status", "failed");
  await expect(editor.status("transform_1")).toHaveAttribute("data-status", "succeeded");

  await page.getByTestId("open-run").click();
  await expect(page.getByTestId("attempts-llm_1")).toHaveText("3 attempts");
  await expect(page.getByTestId("step-llm_1")).toContainText("attempt 1 failed: LLM_REQUEST_FAILED");
  await expect(page.getByTestId("attempts-llm_2")).toHaveCount(0);
  await expect(page.getByTestId("step-output-transform_1")).toContainText("recovered from LLM_REQUEST_FAILED");
});

test("cancel a running run from its page: the in-flight LLM call is aborted and the run ends cancelled", async ({ page, request }) => {
  const editor = new EditorPage(page);
  await editor.openNew();
  await editor.dragStep("llm", { x: 400, y: 150 });
  await editor.select("llm_1");
  await editor.field("model").fill("slow-20000");
  await editor.field("prompt").fill("never finishes");
  await request.delete(GATEWAY_LOG);
  await page.getByTestId("run-button").click();
  await expect(editor.status("llm_1")).toHaveAttribute("data-status", "running");
  await page.getByTestId("open-run").click();
  await expect(page.getByTestId("run-page-status")).toHaveAttribute("data-status", "running");
  await page.getByTestId("cancel-run").click();
  await expect(page.getByTestId("run-page-status")).toHaveAttribute("data-status", "cancelled", { timeout: 3000 });
  await expect(page.getByTestId("run-error")).toContainText("CANCELLED");
  await expect(page.getByTestId("cancel-run")).toHaveCount(0);
  const log = await (await request.get(GATEWAY_LOG)).json();
  expect(log[0]).toMatchObject({ model: "slow-20000", aborted: true });
});

test("roll a workflow back to an earlier version with one click", async ({ page }) => {
  const editor = new EditorPage(page);
  await editor.openNew();
  await editor.dragStep("transform", { x: 400, y: 150 });
  await editor.select("transform_1");
  await editor.field("output").fill('"first"');
  await editor.save();
  await expect(page.getByTestId("saved-version")).toContainText("v1");
  await editor.field("output").fill('"second"');
  await editor.save();
  await expect(page.getByTestId("saved-version")).toContainText("v2");

  // One click in the versions list rolls back: v1 is saved again as v3.
  await page.getByTestId("versions-toggle").click();
  await expect(page.getByTestId("version-2")).toContainText("latest");
  await expect(page.getByTestId("restore-version-2")).toHaveCount(0);
  await page.getByTestId("restore-version-1").click();
  await expect(page.getByTestId("saved-version")).toContainText("v3");
  await editor.select("transform_1");
  await expect(editor.field("output")).toHaveValue('"first"');

  // An earlier version can also be opened to look at it first, and restored from there.
  await page.getByTestId("versions-toggle").click();
  await page.getByTestId("open-version-2").click();
  await expect(page.getByTestId("saved-version")).toContainText("v2");
  await editor.select("transform_1");
  await expect(editor.field("output")).toHaveValue('"second"');
  await page.getByTestId("restore-version").click();
  await expect(page.getByTestId("saved-version")).toContainText("v4");
  await expect(page.getByTestId("restore-version")).toHaveCount(0);
});
