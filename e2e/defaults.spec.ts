import { closedPort } from "./fixtures/ports";
import { expect, test } from "@playwright/test";
import { EditorPage } from "./pages/editor";

/**
 * Honest defaults: a new llm step names no model and runs on the Settings default (priced under it), Settings'
 * Test connection lists the gateway's models or says what is wrong, and a template reading an input field the
 * schema does not declare is a problem on its node at Save.
 */
const GATEWAY_LOG = `http://127.0.0.1:${process.env.E2E_GATEWAY_PORT ?? 4010}/__log`;
const APP = `http://127.0.0.1:${process.env.E2E_PORT ?? 3100}`;


test("a new llm node has no model and runs on the Settings default model, priced under that model", async ({ page, request }) => {
  const tag = `defaults-${Date.now()}`;
  await page.goto("/settings");
  await page.getByTestId("default-model").fill("house-model");
  await page.getByTestId("default-model-save").click();
  await expect(page.getByTestId("default-model-message")).toHaveText("Saved");
  // $1 per token in and out: the run's cost in dollars is its token count.
  await page.getByTestId("prices").fill('{ "house-model": { "inputPerMillion": 1000000, "outputPerMillion": 1000000 } }');
  await page.getByTestId("prices-save").click();
  await expect(page.getByTestId("prices-message")).toHaveText("Saved");

  const editor = new EditorPage(page);
  await editor.openNew();
  await editor.dragStep("llm", { x: 400, y: 150 });
  await editor.select("llm_1");
  await expect(editor.field("model")).toHaveValue("");
  await expect(editor.field("model")).toHaveAttribute("placeholder", "default model: house-model");
  await editor.field("prompt").fill(`hello ${tag}`);
  await request.delete(GATEWAY_LOG);
  await page.getByTestId("run-button").click();
  await expect(page.getByTestId("run-status")).toHaveAttribute("data-status", "succeeded", { timeout: 15_000 });

  const log: Array<{ model: string; messages: Array<{ content: string }> }> = await (await request.get(GATEWAY_LOG)).json();
  expect(log.filter((r) => r.messages.at(-1)?.content === `hello ${tag}`).map((r) => r.model)).toEqual(["house-model"]);

  await page.getByTestId("open-run").click();
  await expect(page.getByTestId("run-page-status")).toHaveAttribute("data-status", "succeeded");
  await expect(page.getByTestId("step-output-llm_1")).toContainText('"model": "house-model"');
  const tokens = Number(await page.getByTestId("run-tokens").textContent());
  expect(tokens).toBeGreaterThan(0);
  await expect(page.getByTestId("run-cost")).toHaveText(`$${tokens}.00`);
});

test("Test connection lists the gateway's models, and says clearly what is wrong with a bad URL", async ({ page }) => {
  await page.goto("/settings");
  // The e2e server's gateway comes from LLM_GATEWAY_URL: an empty URL field tests that one, with its key.
  await page.getByTestId("test-connection").click();
  const result = page.getByTestId("test-connection-result");
  await expect(result).toHaveAttribute("data-ok", "true");
  await expect(result).toContainText("/v1/models");
  await expect(page.getByTestId("test-connection-models").getByText("test-model", { exact: true })).toBeVisible();
  await expect(page.getByTestId("default-model-models").locator("option[value='slow-1500']")).toHaveCount(1);

  const port = await closedPort();
  await page.getByTestId("gateway-url").fill(`http://127.0.0.1:${port}/v1`);
  await page.getByTestId("test-connection").click();
  await expect(result).toHaveAttribute("data-ok", "false");
  await expect(result).toContainText(`could not reach http://127.0.0.1:${port}/v1/models`);
  await expect(result).toContainText("ECONNREFUSED");

  // A server that is not a gateway (this app: its /v1/models is a 404 page).
  await page.getByTestId("gateway-url").fill(`${APP}/v1`);
  await page.getByTestId("test-connection").click();
  await expect(result).toHaveAttribute("data-ok", "false");
  await expect(result).toContainText(`${APP}/v1/models answered HTTP 404`);

  await page.getByTestId("gateway-url").fill("not a url");
  await page.getByTestId("test-connection").click();
  await expect(result).toContainText("enter the gateway's base URL");

  // Testing saves nothing.
  await page.reload();
  await expect(page.getByTestId("gateway-url")).toHaveValue("");
});

test("a template reading an input field the schema does not declare is a problem on its node at Save", async ({ page }) => {
  const editor = new EditorPage(page);
  await editor.openNew();
  await editor.dragStep("transform", { x: 400, y: 150 });
  await editor.select("transform_1");
  await editor.field("output").fill('{ "about": "{{ input.nosuch }}" }');
  await editor.deselect();
  await page.getByTestId("workflow-input-schema").fill('{ "type": "object", "properties": { "topic": { "type": "string" } }, "required": ["topic"] }');
  await editor.save();

  await expect(page.getByTestId("node-issue-transform_1")).toContainText('{{ input.nosuch }} reads "input.nosuch", which the input schema does not declare');
  await expect(page.getByTestId("node-issue-transform_1")).toContainText("declare `nosuch` in the input schema");
  await expect(editor.status("transform_1")).toHaveAttribute("data-invalid", "true");
  await expect(page.getByTestId("saved-version")).toContainText("not saved");
  await editor.select("transform_1");
  await expect(page.getByTestId("field-output-issue")).toContainText("input.nosuch");

  // Declaring the field fixes it.
  await editor.deselect();
  await page.getByTestId("workflow-input-schema").fill('{ "type": "object", "properties": { "topic": { "type": "string" }, "nosuch": { "type": "string" } } }');
  await editor.save();
  await expect(page.getByTestId("saved-version")).toContainText("v1");
  await expect(page.getByTestId("node-issue-transform_1")).toHaveCount(0);
});
