import { readFile } from "node:fs/promises";
import { expect, test, type Locator, type Page } from "@playwright/test";
import { fanOutBlocks, linearChain } from "./fixtures/large-workflows";
import { EditorPage } from "./pages/editor";
import type { WorkflowDefinition } from "@/lib/workflow/schema";

/**
 * The canvas with large workflows (1,000 steps open, select, drag; the run page of a 1,000-step run) and its
 * viewport: the whole workflow fitted on open and after an import, no node under the minimap or the zoom
 * controls, no jump after Save or Run. Speed itself is measured by `npm run bench -- canvas`; the bounds here
 * only catch the editor that did not open at all (1,000 steps took over a minute before).
 */

/** A chain that runs without input: the first step is a constant. */
function runnableChain(steps: number): WorkflowDefinition {
  const chain = linearChain(steps);
  chain.steps[0] = { ...chain.steps[0], config: { output: 1 } };
  return chain;
}

async function importByFile(page: Page, definition: unknown, name = "workflow.json") {
  await page.getByTestId("import-button").click();
  await page.getByTestId("import-file").setInputFiles({ name, mimeType: "application/json", buffer: Buffer.from(JSON.stringify(definition)) });
}

async function importByPaste(page: Page, text: string) {
  await page.getByTestId("import-button").click();
  await page.getByTestId("import-text").fill(text);
  await page.getByTestId("import-submit").click();
}

const measuredNodes = (root: Locator) => root.locator('.react-flow__node[style*="visibility: visible"]');

interface Box {
  left: number;
  top: number;
  right: number;
  bottom: number;
}

/** Screen boxes of the pane, its panels and every rendered node inside `container`. */
async function layout(page: Page, container: string) {
  return page.evaluate((selector) => {
    const box = (el: Element | null) => {
      if (!el) return null;
      const r = el.getBoundingClientRect();
      return { left: r.left, top: r.top, right: r.right, bottom: r.bottom };
    };
    const root = document.querySelector(selector)!;
    return {
      pane: box(root.querySelector(".react-flow"))!,
      panels: [box(root.querySelector(".react-flow__minimap")), box(root.querySelector(".react-flow__controls"))].filter((b) => b !== null),
      nodes: [...root.querySelectorAll<HTMLElement>(".react-flow__node")].map((el) => ({ id: el.dataset.id!, ...box(el)! })),
      transform: root.querySelector<HTMLElement>(".react-flow__viewport")!.style.transform,
    };
  }, container);
}

const overlaps = (a: Box, b: Box) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;

/** Every step has a node, inside the pane and under no panel. */
async function expectWholeWorkflowInView(page: Page, container: string, stepIds: string[]) {
  const { pane, panels, nodes } = await layout(page, container);
  expect(nodes.map((n) => n.id).sort()).toEqual([...stepIds].sort());
  for (const node of nodes) {
    const where = `node ${node.id} at ${JSON.stringify(node)} in pane ${JSON.stringify(pane)}`;
    expect(node.left, where).toBeGreaterThanOrEqual(pane.left - 0.5);
    expect(node.top, where).toBeGreaterThanOrEqual(pane.top - 0.5);
    expect(node.right, where).toBeLessThanOrEqual(pane.right + 0.5);
    expect(node.bottom, where).toBeLessThanOrEqual(pane.bottom + 0.5);
    for (const panel of panels) expect(overlaps(node, panel), `${where} under a panel at ${JSON.stringify(panel)}`).toBe(false);
  }
}

/** Zooms in (wheel over the node) until the node is readable. */
async function zoomInOn(page: Page, node: Locator) {
  for (let i = 0; i < 40; i++) {
    const box = (await node.boundingBox())!;
    if (box.width >= 150) return;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.wheel(0, -400);
    await page.waitForTimeout(60);
  }
  throw new Error("could not zoom in on the node");
}

test("a saved 1,000-step workflow opens with every step on the canvas; a step can be selected and dragged", async ({ page }) => {
  test.setTimeout(120_000);
  const editor = new EditorPage(page);
  await editor.openNew();
  const chain = runnableChain(1000);
  await importByFile(page, chain, "chain-1000.json");
  await expect(editor.canvas.locator(".react-flow__node")).toHaveCount(1000);
  await editor.save();
  await expect(page.getByTestId("save-message")).toContainText("Saved version 1");

  const started = Date.now();
  await page.reload();
  // Fitted whole, every step is in view, so every one is rendered and measured.
  await expect(measuredNodes(editor.canvas)).toHaveCount(1000, { timeout: 30_000 });
  await expect(page.getByTestId("save-button")).toBeEnabled();
  expect(Date.now() - started, "opening a 1,000-step workflow (it took over a minute before)").toBeLessThan(30_000);
  await expectWholeWorkflowInView(page, '[data-testid="canvas"]', chain.steps.map((s) => s.id));

  const first = editor.node("s0");
  await zoomInOn(page, first);
  await first.click();
  await expect(editor.field("id")).toHaveValue("s0");
  const before = (await first.boundingBox())!;
  await page.mouse.move(before.x + before.width / 2, before.y + before.height / 2);
  await page.mouse.down();
  for (let i = 1; i <= 10; i++) await page.mouse.move(before.x + before.width / 2 + i * 20, before.y + before.height / 2 + i * 5);
  await page.mouse.up();
  const after = (await first.boundingBox())!;
  expect(after.x - before.x).toBeGreaterThan(150);
  await expect(page.getByTestId("dirty-indicator")).toBeVisible();
});

test("the run page of a 1,000-step run opens with the whole workflow in its column", async ({ page }) => {
  test.setTimeout(120_000);
  const editor = new EditorPage(page);
  await editor.openNew();
  const chain = runnableChain(1000);
  await importByFile(page, chain);
  await expect(editor.canvas.locator(".react-flow__node")).toHaveCount(1000);
  await page.getByTestId("run-button").click(); // saves first
  await expect(page.getByTestId("run-status")).toHaveAttribute("data-status", "succeeded", { timeout: 60_000 });
  await page.getByTestId("open-run").click();
  await expect(page.getByTestId("run-page-status")).toHaveAttribute("data-status", "succeeded", { timeout: 30_000 });
  const graph = page.getByTestId("run-graph");
  await expect(measuredNodes(graph)).toHaveCount(1000, { timeout: 30_000 });
  await expect(graph.locator('[data-testid="node-s999"]')).toHaveAttribute("data-status", "succeeded");
  await expectWholeWorkflowInView(page, '[data-testid="run-graph"]', chain.steps.map((s) => s.id));
  await expect(page.getByTestId("step-s999")).toBeVisible();
});

test("a small workflow's run graph fits its column at zoom 1 at most", async ({ page }) => {
  const editor = new EditorPage(page);
  await editor.openNew();
  await importByPaste(page, JSON.stringify(runnableChain(2)));
  await page.getByTestId("run-button").click();
  await expect(page.getByTestId("run-status")).toHaveAttribute("data-status", "succeeded", { timeout: 30_000 });
  await page.getByTestId("open-run").click();
  const graph = page.getByTestId("run-graph");
  await expect(measuredNodes(graph)).toHaveCount(2);
  await expectWholeWorkflowInView(page, '[data-testid="run-graph"]', ["s0", "s1"]);
  // Not blown up: a node is drawn at its own size (208 px wide), not ~1.8 times that.
  expect((await graph.locator('.react-flow__node[data-id="s0"]').boundingBox())!.width).toBeLessThanOrEqual(210);
});

test("import fits the whole workflow clear of the minimap; Save and Run leave the viewport where it is", async ({ page }) => {
  test.setTimeout(90_000);
  const editor = new EditorPage(page);
  await editor.openNew();
  // Wide and tall: ten lanes per block, so the last row reaches both bottom corners unless the fit keeps them free.
  const fan = fanOutBlocks(3, 10);
  fan.steps[0] = { ...fan.steps[0], config: { output: 1 } };
  const ids = fan.steps.map((s) => s.id);
  await importByPaste(page, JSON.stringify(fan));
  await expect(page.getByTestId("import-dialog")).toBeHidden();
  await expect(measuredNodes(editor.canvas)).toHaveCount(ids.length);
  await expect(page.getByTestId("dirty-indicator")).toBeVisible();
  await expectWholeWorkflowInView(page, '[data-testid="canvas"]', ids);
  await expect(page.getByTestId("workflow-title")).toHaveText(fan.name);

  const fitted = (await layout(page, '[data-testid="canvas"]')).transform;
  await editor.save();
  await expect(page.getByTestId("save-message")).toContainText("Saved version 1");
  await page.waitForTimeout(1000); // the refresh after saving has landed
  expect((await layout(page, '[data-testid="canvas"]')).transform).toBe(fitted);

  await page.getByTestId("run-button").click();
  await expect(page.getByTestId("run-status")).toHaveAttribute("data-status", "succeeded", { timeout: 30_000 });
  expect((await layout(page, '[data-testid="canvas"]')).transform).toBe(fitted);

  // Opened again: the same whole-workflow view.
  await page.reload();
  await expect(measuredNodes(editor.canvas)).toHaveCount(ids.length);
  await expectWholeWorkflowInView(page, '[data-testid="canvas"]', ids);

  // The minimap folds away and comes back.
  await page.getByTestId("minimap-toggle").click();
  await expect(editor.canvas.locator(".react-flow__minimap")).toHaveCount(0);
  await page.getByTestId("minimap-toggle").click();
  await expect(editor.canvas.locator(".react-flow__minimap")).toBeVisible();
});

test("import keeps the workflow's id, lays out steps without positions and keeps the saved positions of others", async ({ page }) => {
  const editor = new EditorPage(page);
  await editor.openNew();
  const id = page.url().split("/").pop()!;
  await importByPaste(
    page,
    JSON.stringify({
      id: "some-other-id",
      name: "Imported",
      steps: [
        { id: "first", type: "transform", config: { output: 1 }, position: { x: 0, y: 0 } },
        { id: "second", type: "transform", config: { output: "{{ steps.first + 1 }}" } },
      ],
    }),
  );
  await expect(editor.node("first")).toBeVisible();
  await expect(editor.node("second")).toBeVisible();
  await editor.deselect();
  await expect(page.getByText(id, { exact: true })).toBeVisible(); // the inspector's workflow id
  await editor.save();
  await expect(page.getByTestId("save-message")).toContainText("Saved version 1");
  expect(page.url()).toContain(`/workflows/${id}`);
  // Export gives back what is on the canvas, under this workflow's id.
  const download = page.waitForEvent("download");
  await page.getByTestId("export-button").click();
  const file = await download;
  expect(file.suggestedFilename()).toBe(`${id}.json`);
  const exported = JSON.parse(await readFile(await file.path(), "utf8"));
  expect(exported).toMatchObject({ id, name: "Imported", steps: [{ id: "first", position: { x: 0, y: 0 } }, { id: "second" }], edges: [{ from: "first", to: "second" }] });
});

test("an import that is not JSON or not a workflow names the problem and leaves the canvas as it was", async ({ page }) => {
  const editor = new EditorPage(page);
  await editor.openNew();
  await page.getByTestId("palette-transform").click();
  await expect(editor.node("transform_1")).toBeVisible();

  await importByPaste(page, '{ "name": "broken", "steps": [ ');
  await expect(page.getByTestId("import-error")).toContainText("not valid JSON");
  await page.getByTestId("import-text").fill(
    JSON.stringify({ name: "dupes", steps: [{ id: "a", type: "transform" }, { id: "a", type: "transform" }], edges: [{ from: "a", to: "ghost" }] }),
  );
  await page.getByTestId("import-submit").click();
  await expect(page.getByTestId("import-error")).toContainText('step id "a" is used more than once');
  await expect(page.getByTestId("import-error")).toContainText('"to" names step "ghost", which does not exist');
  await page.getByTestId("import-text").fill(JSON.stringify({ name: "no steps here" }));
  await page.getByTestId("import-submit").click();
  await expect(page.getByTestId("import-error")).toContainText("steps");
  await importByFileInOpenDialog(page, "[1, 2]");
  await expect(page.getByTestId("import-error")).toContainText("a list");

  await page.getByRole("button", { name: "Cancel" }).click();
  await expect(editor.canvas.locator(".react-flow__node")).toHaveCount(1);
  await expect(editor.node("transform_1")).toBeVisible();
});

async function importByFileInOpenDialog(page: Page, text: string) {
  await page.getByTestId("import-file").setInputFiles({ name: "list.json", mimeType: "application/json", buffer: Buffer.from(text) });
}

test("step nodes render at the size the editor gives React Flow up front (node-geometry.ts)", async ({ page }) => {
  const editor = new EditorPage(page);
  await editor.openNew();
  await importByPaste(
    page,
    JSON.stringify({
      name: "sizes",
      steps: [
        { id: "check", type: "condition", config: { expression: "true" } },
        { id: "yes", type: "transform", config: { output: 1 }, onError: "route" },
        { id: "no", type: "llm", name: "A step with a rather long name that is cut", config: { model: "m", prompt: "p" } },
        { id: "fallback", type: "transform", config: { output: 2 } },
      ],
      edges: [
        { from: "check", to: "yes", when: "true" },
        { from: "check", to: "no", when: "false" },
        { from: "yes", to: "fallback", when: "error" },
      ],
    }),
  );
  await expect(measuredNodes(editor.canvas)).toHaveCount(4);
  const sizes = await editor.canvas.locator(".react-flow__node").evaluateAll((els) => els.map((el) => [(el as HTMLElement).dataset.id, (el as HTMLElement).offsetWidth, (el as HTMLElement).offsetHeight]));
  // When StepNode's layout changes, change stepNodeSize with it (else every node is rendered twice on open).
  expect(sizes.sort()).toEqual([["check", 208, 67], ["fallback", 208, 51], ["no", 208, 51], ["yes", 208, 51]]);
  // The edges were drawn from the measured handles, the error one included.
  await expect(editor.canvas.locator(".react-flow__edge")).toHaveCount(3);
});
