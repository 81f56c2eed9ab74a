import { expect, test } from "@playwright/test";
import { EditorPage } from "./pages/editor";

/**
 * Concurrency per workflow in the browser: the workflow panel's fields (limit with its inline check, key with the
 * server's verdict shown under it) save into the definition, and a run over the limit shows why it waits, in the
 * history and on its page, until it starts.
 */
test.setTimeout(180_000);

test("the concurrency fields save; a run over the limit shows its reason on the run page and in the history", async ({ page, request }) => {
  const editor = new EditorPage(page);
  await editor.openNew();
  await editor.dragStep("llm", { x: 400, y: 120 });
  await editor.select("llm_1");
  // 4 s per run: the third of three runs for one customer waits at least 8 s, time to look at it.
  await editor.field("model").fill("slow-4000");
  await editor.field("prompt").fill("Serve {{ input.customerId }}");
  await editor.deselect();
  const name = `Concurrency e2e ${Date.now()}`;
  await page.getByTestId("workflow-name").fill(name);
  await page.getByTestId("workflow-input-schema").fill('{ "type": "object", "properties": { "customerId": { "type": "string" } }, "required": ["customerId"] }');

  // The limit is checked as it is typed; the key field appears once there is a limit.
  await expect(page.getByTestId("workflow-concurrency-key")).toHaveCount(0);
  const limitError = page.getByTestId("workflow-concurrency-limit-error");
  await page.getByTestId("workflow-concurrency-limit").fill("0");
  await expect(limitError).toHaveText("enter a whole number from 1 to 1000");
  await page.getByTestId("workflow-concurrency-limit").fill("1001");
  await expect(limitError).toHaveText("enter a whole number from 1 to 1000");
  await page.getByTestId("workflow-concurrency-limit").fill("1");
  await expect(limitError).toHaveCount(0);

  // A key that reads a step's output is refused by the server, shown under the field; nothing is saved.
  await page.getByTestId("workflow-concurrency-key").fill("steps.llm_1.text");
  await editor.save();
  await expect(page.getByTestId("workflow-concurrency-issue")).toContainText('concurrency.key: reads "steps.llm_1", but the key is computed before any step runs');
  await expect(page.getByTestId("saved-version")).toContainText("not saved");

  await page.getByTestId("workflow-concurrency-key").fill("input.customerId");
  await editor.save();
  await expect(page.getByTestId("saved-version")).toContainText("v1");
  await expect(page.getByTestId("workflow-concurrency-issue")).toHaveCount(0);
  const workflowId = new URL(page.url()).pathname.split("/").at(-1)!;

  // Saved: the workflow opens again with both values.
  await page.reload();
  await editor.deselect();
  await expect(page.getByTestId("workflow-concurrency-limit")).toHaveValue("1");
  await expect(page.getByTestId("workflow-concurrency-key")).toHaveValue("input.customerId");
  const saved = await request.get(`/api/v1/workflows/${workflowId}`);
  expect(saved.status()).toBe(200);
  expect((await saved.json()).definition.concurrency).toEqual({ limit: 1, key: "input.customerId" });

  // Three runs for one customer: the first runs, the others wait for its slot, first come first served.
  const runIds: string[] = [];
  for (let i = 0; i < 3; i++) {
    const started = await request.post(`/api/v1/workflows/${workflowId}/runs`, { data: { customerId: "acme" } });
    expect(started.status(), await started.text()).toBe(202);
    runIds.push((await started.json()).runId);
  }
  const last = runIds[2];
  await page.goto("/runs");
  await expect(page.getByTestId(`run-queue-reason-${last}`)).toContainText('waiting for a concurrency slot (1 of 1 running with concurrency key "acme"', { timeout: 10_000 });

  await page.goto(`/runs/${last}`);
  await expect(page.getByTestId("run-page-status")).toHaveAttribute("data-status", "queued");
  await expect(page.getByTestId("run-queue-reason")).toContainText('Queued: waiting for a concurrency slot (1 of 1 running with concurrency key "acme"');
  // It starts once the runs before it are done, and the reason goes.
  await expect(page.getByTestId("run-page-status")).toHaveAttribute("data-status", "succeeded", { timeout: 60_000 });
  await expect(page.getByTestId("run-queue-reason")).toHaveCount(0);
});
