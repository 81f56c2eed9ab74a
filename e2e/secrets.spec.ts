import { createServer, type Server } from "node:http";
import { expect, test } from "@playwright/test";
import { EditorPage } from "./pages/editor";

/**
 * Secrets from the Settings page to a run: the value is typed once and never comes back to the browser (not in
 * the page, not after a reload), an http step's request carries it, and the run page and the editor's live view
 * show `[secret:NAME]` instead.
 */
const VALUE = `sk-e2e-${Date.now().toString(36)}${Math.random().toString(36).slice(2)}`;
const REPLACED = `${VALUE}-replaced`;

let server: Server;
let base: string;
const received: string[] = [];

test.beforeAll(async () => {
  // The API the step calls: it echoes the Authorization header back, as some APIs do in errors.
  server = createServer((req, res) => {
    received.push(req.headers.authorization ?? "");
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ youSent: req.headers.authorization ?? null }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

test.afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

test("a secret added in Settings is sent by an http step and shown redacted, never in the browser", async ({ page }) => {
  await page.goto("/settings");
  // A bad name is refused, naming the rule.
  await page.getByTestId("secret-name").fill("api key");
  await page.getByTestId("secret-value").fill(VALUE);
  await page.getByTestId("secret-add-save").click();
  await expect(page.getByTestId("secret-add-message")).toContainText("name: use 1-64 characters A-Z, 0-9 and _");

  await page.getByTestId("secret-name").fill("E2E_API_KEY");
  await page.getByTestId("secret-add-save").click();
  await expect(page.getByTestId("secret-add-message")).toHaveText("Saved");
  await expect(page.getByTestId("secret-row-E2E_API_KEY")).toBeVisible();
  await expect(page.getByTestId("secret-updated-E2E_API_KEY")).toContainText("UTC");
  // The form forgets the value once it is saved.
  await expect(page.getByTestId("secret-value")).toHaveValue("");
  expect(await page.content()).not.toContain(VALUE);
  await page.reload();
  await expect(page.getByTestId("secret-row-E2E_API_KEY")).toBeVisible();
  expect(await page.content()).not.toContain(VALUE);
  // The page as served (HTML and the React payload in it) names the secret only.
  const served = await (await page.request.get("/settings")).text();
  expect(served).toContain("E2E_API_KEY");
  expect(served).not.toContain(VALUE);

  // A workflow whose http step sends it as a bearer token.
  const editor = new EditorPage(page);
  await editor.openNew();
  await editor.dragStep("http", { x: 420, y: 200 });
  await editor.select("http_1");
  await editor.field("url").fill(`${base}/echo?api_key={{ secrets.E2E_API_KEY }}`);
  await editor.field("headers").fill(JSON.stringify({ Authorization: "Bearer {{ secrets.E2E_API_KEY }}" }));
  await page.getByTestId("run-button").click();
  await expect(page.getByTestId("run-status")).toHaveAttribute("data-status", "succeeded", { timeout: 20_000 });
  expect(received.at(-1)).toBe(`Bearer ${VALUE}`);
  expect(await page.content()).not.toContain(VALUE);

  await page.getByTestId("open-run").click();
  await expect(page.getByTestId("step-output-http_1")).toContainText('"youSent": "Bearer [secret:E2E_API_KEY]"');
  await page.getByTestId("step-http_1").getByText("Config as rendered").click();
  await expect(page.getByTestId("step-input-http_1")).toContainText('"Authorization": "Bearer [secret:E2E_API_KEY]"');
  await expect(page.getByTestId("step-input-http_1")).toContainText("api_key=[secret:E2E_API_KEY]");
  await expect(page.getByTestId("step-log-http_1")).toContainText("api_key=[redacted]");
  expect(await page.content()).not.toContain(VALUE);
  await page.reload();
  await expect(page.getByTestId("step-output-http_1")).toContainText("[secret:E2E_API_KEY]");
  expect(await page.content()).not.toContain(VALUE);
  expect(await (await page.request.get(page.url())).text()).not.toContain(VALUE);

  // Replace the value, then delete the secret.
  await page.goto("/settings");
  await page.getByTestId("secret-replace-E2E_API_KEY").click();
  await page.getByTestId("secret-replace-value-E2E_API_KEY").fill(REPLACED);
  await page.getByTestId("secret-replace-save-E2E_API_KEY").click();
  await expect(page.getByTestId("secret-message-E2E_API_KEY")).toHaveText("Replaced");
  expect(await page.content()).not.toContain(REPLACED);
  await page.getByTestId("secret-delete-E2E_API_KEY").click();
  await page.getByTestId("secret-delete-E2E_API_KEY").click();
  await expect(page.getByTestId("secret-row-E2E_API_KEY")).toHaveCount(0);
  await page.reload();
  await expect(page.getByTestId("secret-row-E2E_API_KEY")).toHaveCount(0);
});
