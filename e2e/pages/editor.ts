import { expect, type Locator, type Page } from "@playwright/test";

/** Page object for the workflow editor: palette, canvas, inspector, toolbar. */
export class EditorPage {
  readonly canvas: Locator;
  constructor(readonly page: Page) {
    this.canvas = page.getByTestId("canvas");
  }

  async openNew() {
    await this.page.goto("/workflows/new");
    await expect(this.canvas).toBeVisible();
  }

  node(stepId: string) {
    return this.page.locator(`.react-flow__node[data-id="${stepId}"]`);
  }

  status(stepId: string) {
    return this.page.getByTestId(`node-${stepId}`);
  }

  /** Real HTML5 drag and drop from the palette to a point on the canvas. */
  async dragStep(kind: string, at: { x: number; y: number }) {
    await this.page.getByTestId(`palette-${kind}`).dragTo(this.canvas, { targetPosition: at });
  }

  async connect(from: string, to: string, handle?: "true" | "false" | "error") {
    const source = handle
      ? this.node(from).locator(`.react-flow__handle.source[data-handleid="${handle}"]`)
      : this.node(from).locator(".react-flow__handle.source");
    await source.dragTo(this.node(to).locator(".react-flow__handle.target"));
  }

  async select(stepId: string) {
    await this.node(stepId).click();
  }

  field(name: string) {
    return this.page.getByTestId(`field-${name}`);
  }

  async deselect() {
    await this.canvas.locator(".react-flow__pane").click({ position: { x: 20, y: 20 } });
  }

  async save() {
    await this.page.getByTestId("save-button").click();
  }
}
