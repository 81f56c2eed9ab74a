import { expect, test, type Locator, type Page } from "@playwright/test";

/**
 * The run page as a trace: the timeline (one bar per step execution on a shared time axis: parallel lanes on rows
 * of their own overlapping in time, a retry as attempts with the pause between, a wait for an approval shaded),
 * growing live while the run goes on; selecting a bar selects the node and shows the step's rendered config and
 * output; the canvas highlights the path taken and dims the steps a condition did not reach. Runs are started
 * through the REST API with the signed-in owner's session, as the browser's own requests would.
 */

const uniqueId = (prefix: string) => `${prefix}-${Date.now().toString(36)}`;

async function saveAndRun(page: Page, definition: { id: string; [key: string]: unknown }, wait: boolean): Promise<string> {
  const created = await page.request.post("/api/v1/workflows", { data: definition });
  expect(created.status(), await created.text()).toBe(201);
  const started = await page.request.post(`/api/v1/workflows/${definition.id}/runs${wait ? "?wait=true" : ""}`, { data: {} });
  expect([200, 202], await started.text()).toContain(started.status());
  return ((await started.json()) as { runId: string }).runId;
}

const bar = (page: Page, key: string) => page.getByTestId(`timeline-bar-${key}`);

async function box(locator: Locator) {
  const b = await locator.boundingBox();
  if (!b) throw new Error("not laid out");
  return b;
}

test("a finished run: parallel lanes overlap on their own rows, a retry shows both attempts, the path taken is highlighted", async ({ page }) => {
  const id = uniqueId("trace");
  const definition = {
    id,
    name: `Trace ${id}`,
    steps: [
      { id: "start", type: "transform", config: { output: 1 } },
      { id: "left", type: "llm", config: { model: "slow-1500", prompt: "left lane" } },
      // Fails once with 503 (the gateway's flaky model, per prompt), then answers: two attempts.
      { id: "right", type: "llm", config: { model: "flaky-1", prompt: `right lane ${id}` }, retry: { maxAttempts: 2, initialDelayMs: 300, jitter: false } },
      { id: "join", type: "transform", config: { output: "{{ steps.left.text }} / {{ steps.right.text }}" } },
      { id: "check", type: "condition", config: { expression: "$length(steps.join) > 1000" } },
      { id: "long", type: "transform", config: { output: "long" } },
      { id: "short", type: "transform", config: { output: "short" } },
    ],
    edges: [
      { from: "start", to: "left" },
      { from: "start", to: "right" },
      { from: "left", to: "join" },
      { from: "right", to: "join" },
      { from: "join", to: "check" },
      { from: "check", to: "long", when: "true" },
      { from: "check", to: "short", when: "false" },
    ],
  };
  const runId = await saveAndRun(page, definition, true);
  await page.goto(`/runs/${runId}`);
  await expect(page.getByTestId("run-page-status")).toHaveText("succeeded");
  await expect(page.getByTestId("timeline")).toBeVisible({ timeout: 15_000 });

  // One row per execution; the lanes on rows of their own, overlapping on the time axis.
  for (const key of ["start#1", "left#1", "right#1", "join#1", "check#1", "short#1"]) await expect(bar(page, key)).toHaveAttribute("data-status", "succeeded");
  await expect(bar(page, "long#1")).toHaveCount(0);
  const left = await box(bar(page, "left#1"));
  const right = await box(bar(page, "right#1"));
  const join = await box(bar(page, "join#1"));
  expect(left.y).not.toBe(right.y);
  expect(left.x).toBeLessThan(right.x + right.width);
  expect(right.x).toBeLessThan(left.x + left.width);
  expect(join.x).toBeGreaterThanOrEqual(Math.max(left.x + left.width, right.x + right.width) - 2);

  // The retry: the failed attempt, the pause, the attempt that succeeded.
  await expect(bar(page, "right#1")).toHaveAttribute("data-attempts", "2");
  const spans = bar(page, "right#1").locator("[data-kind]");
  await expect(spans).toHaveCount(3);
  await expect(spans.nth(0)).toHaveAttribute("data-kind", "attempt");
  await expect(spans.nth(0)).toHaveAttribute("data-failed", "true");
  await expect(spans.nth(1)).toHaveAttribute("data-kind", "backoff");
  await expect(spans.nth(2)).toHaveAttribute("data-kind", "attempt");
  await expect(spans.nth(2)).not.toHaveAttribute("data-failed", "true");

  // Hover: duration, attempts, tokens and cost, the failed attempt's error.
  await bar(page, "right#1").hover();
  const tooltip = page.getByTestId("timeline-tooltip");
  await expect(tooltip).toContainText("2 attempts");
  await expect(tooltip).toContainText(/attempt 1: LLM_REQUEST_FAILED/);
  await expect(tooltip.getByTestId("timeline-tooltip-usage")).toContainText(/\d+ tokens/);
  await bar(page, "left#1").hover();
  await expect(tooltip.getByTestId("timeline-tooltip-duration")).toHaveText(/^[12]\.\d s$/);

  // Selecting a bar selects the node and shows the step's rendered config and output.
  await bar(page, "left#1").click();
  await expect(page.getByTestId("node-left")).toHaveClass(/outline-2/);
  const detail = page.getByTestId("timeline-detail");
  await expect(detail.getByTestId("detail-step-input-left")).toContainText("slow-1500");
  await expect(detail.getByTestId("detail-step-output-left")).toContainText("Echo: left lane");
  await bar(page, "right#1").click();
  await expect(page.getByTestId("node-right")).toHaveClass(/outline-2/);
  await expect(page.getByTestId("node-left")).not.toHaveClass(/outline-2/);
  await expect(detail.getByTestId("detail-attempts-right")).toHaveText("2 attempts");

  // The canvas: the path taken highlighted, the branch not taken and its step dimmed, facts on the nodes.
  const graph = page.getByTestId("run-graph");
  await expect(graph.getByTestId("rf__edge-check->short:false")).toHaveClass(/run-edge-taken/);
  await expect(graph.getByTestId("rf__edge-left->join")).toHaveClass(/run-edge-taken/);
  await expect(graph.getByTestId("rf__edge-check->long:true")).toHaveClass(/run-edge-not-taken/);
  await expect(graph.locator('.react-flow__node[data-id="long"]')).toHaveClass(/run-node-unreached/);
  await expect(graph.locator('.react-flow__node[data-id="short"]')).not.toHaveClass(/run-node-unreached/);
  await expect(graph.getByTestId("node-facts-left")).toContainText(/[12]\.\d s · \d+ tok · /);
  await expect(graph.getByTestId("node-facts-long")).toHaveCount(0);

  // Clicking a node selects its bar.
  await graph.getByTestId("node-short").click();
  await expect(page.getByTestId("timeline-detail")).toHaveAttribute("data-key", "short#1");
  await expect(page.getByTestId("timeline-row-short#1")).toHaveClass(/bg-sky-50/);
});

test("a run going on: the timeline grows live, the wait for an approval is shaded, the path animates", async ({ page }) => {
  const id = uniqueId("live-trace");
  const definition = {
    id,
    name: `Live trace ${id}`,
    steps: [
      { id: "draft", type: "llm", config: { model: "drip-200", prompt: Array.from({ length: 40 }, (_, i) => `w${i}`).join(" ") } },
      { id: "review", type: "approval", config: { message: "Ship it?" } },
      { id: "ship", type: "transform", config: { output: "shipped" } },
    ],
  };
  const runId = await saveAndRun(page, definition, false);
  await page.goto(`/runs/${runId}`);
  await expect(page.getByTestId("timeline")).toBeVisible({ timeout: 15_000 });

  // The step at work: the axis runs to now, so it grows with the time (the bar, from the start, fills it).
  await expect(bar(page, "draft#1")).toHaveAttribute("data-status", "running");
  await expect(page.getByTestId("run-graph").getByTestId("rf__edge-draft->review")).not.toHaveClass(/run-edge-taken/);
  const axisEnd = page.getByTestId("timeline-axis-end");
  const first = await axisEnd.textContent();
  await expect(axisEnd).not.toHaveText(first!);
  // Once the next step started, the edge is highlighted, animated while the run goes on.
  await expect(bar(page, "review#1")).toHaveAttribute("data-status", "waiting", { timeout: 15_000 });
  await expect(page.getByTestId("run-graph").getByTestId("rf__edge-draft->review")).toHaveClass(/run-edge-taken/);
  await expect(page.getByTestId("run-graph").getByTestId("rf__edge-draft->review")).toHaveClass(/animated/);
  await expect(bar(page, "draft#1")).toHaveAttribute("data-status", "succeeded");

  // Waiting for a person: shaded, and growing while nobody decides.
  const waiting = bar(page, "review#1").locator('[data-kind="waiting"]');
  await expect(waiting).toHaveCount(1);
  const waited = (await box(waiting)).width;
  await page.waitForTimeout(800);
  expect((await box(waiting)).width).toBeGreaterThan(waited);
  await expect(bar(page, "ship#1")).toHaveCount(0);

  await page.getByTestId("approve").click();
  await expect(page.getByTestId("run-page-status")).toHaveText("succeeded", { timeout: 15_000 });
  await expect(bar(page, "ship#1")).toHaveAttribute("data-status", "succeeded");
  await expect(bar(page, "review#1")).toHaveAttribute("data-status", "succeeded");
  const kinds = await bar(page, "review#1").locator("[data-kind]").evaluateAll((spans) => spans.map((s) => s.getAttribute("data-kind")));
  expect(kinds).toEqual(["attempt", "waiting", "attempt"]);
  await expect(page.getByTestId("run-graph").getByTestId("rf__edge-review->ship")).toHaveClass(/run-edge-taken/);
  await expect(page.getByTestId("run-graph").getByTestId("rf__edge-review->ship")).not.toHaveClass(/animated/);

  // A reload builds the same timeline from the stored events.
  await page.reload();
  await expect(page.getByTestId("timeline")).toBeVisible({ timeout: 15_000 });
  expect(await bar(page, "review#1").locator("[data-kind]").evaluateAll((spans) => spans.map((s) => s.getAttribute("data-kind")))).toEqual(kinds);
});

test("map items expand under their map step; a sub-workflow's run nests under its step", async ({ page }) => {
  const childId = uniqueId("trace-child");
  const created = await page.request.post("/api/v1/workflows", {
    data: { id: childId, name: `Child ${childId}`, steps: [{ id: "inner", type: "transform", config: { output: "inside" } }] },
  });
  expect(created.status()).toBe(201);
  const id = uniqueId("trace-nest");
  const runId = await saveAndRun(
    page,
    {
      id,
      name: `Nest ${id}`,
      steps: [
        { id: "each", type: "map", config: { items: "{{ [1, 2, 3] }}", concurrency: 2, steps: [{ id: "double", type: "transform", config: { output: "{{ item * 2 }}" } }] } },
        { id: "call", type: "workflow", config: { workflowId: childId } },
      ],
    },
    true,
  );
  await page.goto(`/runs/${runId}`);
  await expect(page.getByTestId("timeline")).toBeVisible({ timeout: 15_000 });
  await expect(bar(page, "each[0].double#1")).toHaveCount(0);
  await page.getByTestId("timeline-expand-each#1").click();
  for (const i of [0, 1, 2]) await expect(bar(page, `each[${i}].double#1`)).toHaveAttribute("data-status", "succeeded");
  // An item's bar selects its map on the canvas and shows the item step's output.
  await bar(page, "each[1].double#1").click();
  await expect(page.getByTestId("node-each")).toHaveClass(/outline-2/);
  await expect(page.getByTestId("timeline-detail").getByTestId("detail-step-output-each[1].double")).toContainText("4");

  await page.getByTestId("timeline-expand-call#1").click();
  await expect(bar(page, "inner#1")).toHaveAttribute("data-status", "succeeded");
  const child = page.getByTestId("timeline-child-link-call#1");
  await expect(child).toHaveAttribute("href", /\/runs\/run_/);
});
