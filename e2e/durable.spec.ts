import { expect, test } from "@playwright/test";
import { EditorPage } from "./pages/editor";

/** Durable execution from the browser: approvals, resume after a fix, time travel (fork from a checkpoint). */

test("approve a waiting run from its page: the form is checked, the decision resumes the run", async ({ page }) => {
  const editor = new EditorPage(page);
  await editor.openNew();
  await editor.dragStep("transform", { x: 400, y: 60 });
  await editor.dragStep("approval", { x: 400, y: 260 });
  await editor.dragStep("transform", { x: 400, y: 460 });
  await editor.connect("transform_1", "approval_1");
  await editor.connect("approval_1", "transform_2");
  await editor.select("transform_1");
  await editor.field("output").fill('"release 1.2"');
  await editor.select("approval_1");
  await editor.field("message").fill("Ship {{ steps.transform_1 }} to production?");
  await editor.field("form").fill('{ "type": "object", "properties": { "note": { "type": "string", "title": "Release note" } }, "required": ["note"] }');
  await editor.select("transform_2");
  await editor.field("output").fill('"shipped: {{ steps.approval_1.data.note }} (by {{ steps.approval_1.decidedBy }})"');

  await page.getByTestId("run-button").click();
  await expect(editor.status("approval_1")).toHaveAttribute("data-status", "waiting", { timeout: 15_000 });
  await expect(page.getByTestId("run-status")).toHaveAttribute("data-status", "waiting");
  await page.getByTestId("open-run").click();
  await expect(page.getByTestId("run-page-status")).toHaveAttribute("data-status", "waiting");
  await expect(page.getByTestId("approval-message")).toHaveText("Ship release 1.2 to production?");

  // The form's required field is enforced on the server, with a message naming it.
  await page.getByTestId("approve").click();
  await expect(page.getByTestId("approval-error")).toContainText("data.note: is required");
  await expect(page.getByTestId("run-page-status")).toHaveAttribute("data-status", "waiting");

  await page.getByTestId("approval-field-note").fill("all checks green");
  await page.getByTestId("approval-comment").fill("go");
  await page.getByTestId("approve").click();
  await expect(page.getByTestId("run-page-status")).toHaveAttribute("data-status", "succeeded", { timeout: 15_000 });
  await expect(page.getByTestId("approval-panel")).toHaveCount(0);
  await expect(page.getByTestId("step-output-transform_2")).toContainText("shipped: all checks green (by ");
  await expect(page.getByTestId("step-output-approval_1")).toContainText('"decidedAt"');
});

test("resume a failed run from its page after fixing the step: the finished step is not run again", async ({ page, request }) => {
  const gatewayLog = `http://127.0.0.1:${process.env.E2E_GATEWAY_PORT ?? 4010}/__log`;
  const editor = new EditorPage(page);
  await editor.openNew();
  await editor.dragStep("llm", { x: 400, y: 80 });
  await editor.dragStep("llm", { x: 400, y: 330 });
  await editor.connect("llm_1", "llm_2");
  await editor.select("llm_1");
  await editor.field("model").fill("test-model");
  await editor.field("prompt").fill("research owls");
  await editor.select("llm_2");
  await editor.field("model").fill("fail-400");
  await editor.field("prompt").fill("summarise {{ steps.llm_1.text }}");
  await request.delete(gatewayLog);
  await page.getByTestId("run-button").click();
  await expect(page.getByTestId("run-status")).toHaveAttribute("data-status", "failed", { timeout: 15_000 });

  // Fix the step and save a new version, then resume the failed run on it from the run page.
  await editor.select("llm_2");
  await editor.field("model").fill("test-model");
  await editor.save();
  await expect(page.getByTestId("saved-version")).toContainText("v2");
  await page.getByTestId("open-run").click();
  await expect(page.getByTestId("run-page-status")).toHaveAttribute("data-status", "failed");
  await expect(page.getByTestId("resume-latest")).toBeChecked();
  await page.getByTestId("resume-run").click();
  await expect(page.getByTestId("run-page-status")).toHaveAttribute("data-status", "succeeded", { timeout: 15_000 });
  await expect(page.getByTestId("step-output-llm_2")).toContainText("Echo: summarise Echo: research owls");
  const log: Array<{ model: string; messages: Array<{ content: string }> }> = await (await request.get(gatewayLog)).json();
  expect(log.filter((r) => r.messages.at(-1)?.content === "research owls")).toHaveLength(1);
});

test("fork a run from a checkpoint after editing a step's output: a new linked run continues from there", async ({ page }) => {
  const editor = new EditorPage(page);
  await editor.openNew();
  await editor.dragStep("transform", { x: 400, y: 80 });
  await editor.dragStep("transform", { x: 400, y: 330 });
  await editor.connect("transform_1", "transform_2");
  await editor.select("transform_1");
  await editor.field("output").fill('{ "word": "hello" }');
  await editor.select("transform_2");
  await editor.field("output").fill('"{{ steps.transform_1.word }}, world"');
  await page.getByTestId("run-button").click();
  await expect(page.getByTestId("run-status")).toHaveAttribute("data-status", "succeeded", { timeout: 15_000 });
  await page.getByTestId("open-run").click();
  const parentUrl = page.url();
  await expect(page.getByTestId("step-output-transform_2")).toContainText("hello, world");

  // The checkpoint after transform_1: its state has transform_1's output and transform_2 next.
  await page.locator('[data-testid="checkpoint-row"][data-changed-steps="transform_1"]').click();
  await expect(page.getByTestId("checkpoint-detail")).toContainText("transform_2");
  const state = page.getByTestId("fork-state");
  await expect(state).toHaveValue(/"word": "hello"/);
  await state.fill((await state.inputValue()).replace('"word": "hello"', '"word": "goodbye"'));
  await page.getByTestId("fork-run").click();

  await expect(page).not.toHaveURL(parentUrl);
  await expect(page.getByTestId("run-parent")).toContainText("Forked from run");
  await expect(page.getByTestId("run-page-status")).toHaveAttribute("data-status", "succeeded", { timeout: 15_000 });
  await expect(page.getByTestId("step-output-transform_2")).toContainText("goodbye, world");
  await expect(page.getByTestId("step-output-transform_1")).toContainText("goodbye");

  // The parent is unchanged and links to its fork.
  await page.getByTestId("run-parent").getByRole("link").click();
  await expect(page.getByTestId("step-output-transform_2")).toContainText("hello, world");
  await expect(page.getByTestId("run-forks")).toContainText("succeeded");
});
