import { expect, test, type Page } from "@playwright/test";
import { EditorPage } from "./pages/editor";

/** Nothing lost while editing: undo/redo, the question before leaving, drafts, and invalid field text kept. */

const edges = (page: Page) => page.locator(".react-flow__edge");
const undo = (page: Page) => page.getByTestId("undo-button");
const redo = (page: Page) => page.getByTestId("redo-button");

/** The draft the editor keeps in localStorage for this workflow, once written. */
async function storedDraft(page: Page): Promise<{ basedOnVersion: number | null; definition: { steps: Array<{ id: string; name?: string }> } } | null> {
  return page.evaluate(() => {
    const id = location.pathname.split("/").pop();
    const text = localStorage.getItem(`orchestrator:draft:${id}`);
    return text ? JSON.parse(text) : null;
  });
}

test("undo and redo add, delete, connect and an inspector edit, from the toolbar and the keyboard", async ({ page }) => {
  const editor = new EditorPage(page);
  await editor.openNew();
  await expect(undo(page)).toBeDisabled();
  await expect(redo(page)).toBeDisabled();

  // Add: undone and redone with the toolbar.
  await editor.dragStep("llm", { x: 400, y: 120 });
  await expect(editor.node("llm_1")).toBeVisible();
  await undo(page).click();
  await expect(editor.node("llm_1")).toHaveCount(0);
  await expect(undo(page)).toBeDisabled();
  await redo(page).click();
  await expect(editor.node("llm_1")).toBeVisible();
  await expect(redo(page)).toBeDisabled();

  // Connect: undone with Ctrl+Z, redone with Ctrl+Shift+Z, undone again and redone with Ctrl+Y.
  await editor.dragStep("transform", { x: 400, y: 330 });
  await editor.connect("llm_1", "transform_1");
  await expect(edges(page)).toHaveCount(1);
  await editor.deselect();
  await page.keyboard.press("Control+z");
  await expect(edges(page)).toHaveCount(0);
  await expect(editor.node("transform_1")).toBeVisible();
  await page.keyboard.press("Control+Shift+z");
  await expect(edges(page)).toHaveCount(1);
  await page.keyboard.press("Control+z");
  await expect(edges(page)).toHaveCount(0);
  await page.keyboard.press("Control+y");
  await expect(edges(page)).toHaveCount(1);

  // Delete a step with its edge (Delete key): one undo brings both back.
  await editor.select("transform_1");
  await page.keyboard.press("Delete");
  await expect(editor.node("transform_1")).toHaveCount(0);
  await expect(edges(page)).toHaveCount(0);
  await page.keyboard.press("Control+z");
  await expect(editor.node("transform_1")).toBeVisible();
  await expect(edges(page)).toHaveCount(1);

  // An inspector edit typed key by key is one entry; the toolbar undoes it, the keyboard redoes it.
  await editor.select("llm_1");
  await editor.field("prompt").pressSequentially("Hello there");
  await undo(page).click();
  await expect(editor.field("prompt")).toHaveValue("");
  await editor.select("llm_1"); // focus leaves the field: the shortcut is the editor's again
  await page.keyboard.press("Control+Shift+z");
  await expect(editor.field("prompt")).toHaveValue("Hello there");

  // While typing in a field, Ctrl+Z is the field's own undo, never the canvas's.
  await editor.deselect();
  await page.getByTestId("workflow-name").click();
  await page.keyboard.press("Control+z");
  await expect(editor.node("transform_1")).toBeVisible();
  await expect(edges(page)).toHaveCount(1);

  // Undo back to the saved state is clean; undo past a save makes the editor dirty again.
  await editor.save();
  await expect(page.getByTestId("saved-version")).toContainText("v1");
  await expect(page.getByTestId("dirty-indicator")).toHaveCount(0);
  await editor.deselect();
  await page.keyboard.press("Control+z");
  await expect(page.getByTestId("dirty-indicator")).toBeVisible();
  await page.keyboard.press("Control+Shift+z");
  await expect(page.getByTestId("dirty-indicator")).toHaveCount(0);
});

test("leaving with unsaved changes asks first: declining stays, accepting leaves", async ({ page }) => {
  const editor = new EditorPage(page);
  await page.goto("/");
  await page.getByTestId("new-workflow").click();
  await expect(editor.canvas).toBeVisible();
  const editorUrl = page.url();
  await page.getByTestId("palette-transform").click();
  await expect(page.getByTestId("dirty-indicator")).toBeVisible();

  // Reload: the browser's beforeunload question; declining keeps the page and the edit.
  const asked: string[] = [];
  const question = page.waitForEvent("dialog");
  // (Playwright's reload waits for a load that never comes once the question is declined.)
  const reload = page.reload({ timeout: 3_000 }).then(() => "reloaded", () => "stayed");
  const beforeUnload = await question;
  asked.push(beforeUnload.type());
  await beforeUnload.dismiss();
  expect(await reload).toBe("stayed");
  expect(asked).toEqual(["beforeunload"]);
  await expect(editor.node("transform_1")).toBeVisible();
  await expect(page.getByTestId("dirty-indicator")).toBeVisible();

  // An in-app link (the header's Runs): a confirm; declining keeps the page.
  page.once("dialog", (dialog) => {
    asked.push(`${dialog.type()}: ${dialog.message()}`);
    void dialog.dismiss();
  });
  await page.getByTestId("nav-runs").click();
  await expect.poll(() => asked.length).toBe(2);
  expect(asked[1]).toMatch(/^confirm: This workflow has unsaved changes/);
  await expect(editor.node("transform_1")).toBeVisible();
  expect(page.url()).toBe(editorUrl);

  // Back: the same question; declining returns to the editor, state intact.
  page.once("dialog", (dialog) => {
    asked.push(dialog.type());
    void dialog.dismiss();
  });
  await page.evaluate(() => history.back());
  await expect.poll(() => asked.length).toBe(3);
  await expect.poll(() => page.url()).toBe(editorUrl);
  await expect(editor.node("transform_1")).toBeVisible();
  await expect(page.getByTestId("dirty-indicator")).toBeVisible();

  // Accepting leaves.
  page.once("dialog", (dialog) => void dialog.accept());
  await page.getByTestId("nav-runs").click();
  await expect(page).toHaveURL(/\/runs$/);

  // Saved: no question any more.
  await page.goto(editorUrl); // the draft comes back
  await expect(editor.node("transform_1")).toBeVisible();
  await editor.save();
  await expect(page.getByTestId("saved-version")).toContainText("v1");
  page.on("dialog", (dialog) => {
    asked.push(dialog.type());
    void dialog.dismiss();
  });
  await page.getByTestId("nav-runs").click();
  await expect(page).toHaveURL(/\/runs$/);
  expect(asked).toHaveLength(3);
});

test("an unsaved draft survives a reload: restored with a banner, saved or discarded, and says when the workflow moved on", async ({ page }) => {
  const editor = new EditorPage(page);
  await editor.openNew();
  await page.getByTestId("palette-transform").click();
  await editor.save();
  await expect(page.getByTestId("saved-version")).toContainText("v1");

  // An edit, then an accidental reload (the beforeunload question is accepted): the draft comes back.
  await editor.select("transform_1");
  await editor.field("name").fill("Drafted name");
  await page.reload();
  await expect(page.getByTestId("draft-banner")).toContainText("Unsaved draft from");
  await expect(page.getByTestId("draft-outdated")).toHaveCount(0);
  await expect(page.getByTestId("dirty-indicator")).toBeVisible();
  await expect(editor.status("transform_1")).toContainText("Drafted name");
  // The restore is one undo entry: undo shows the saved state, redo the draft again.
  await page.keyboard.press("Control+z");
  await expect(editor.status("transform_1")).not.toContainText("Drafted name");
  await page.keyboard.press("Control+Shift+z");
  await expect(editor.status("transform_1")).toContainText("Drafted name");

  // Saving it clears the draft and the banner.
  await editor.save();
  await expect(page.getByTestId("saved-version")).toContainText("v2");
  await expect(page.getByTestId("draft-banner")).toHaveCount(0);
  await expect.poll(() => storedDraft(page)).toBeNull();
  await page.reload();
  await expect(editor.status("transform_1")).toContainText("Drafted name");
  await expect(page.getByTestId("draft-banner")).toHaveCount(0);
  await expect(page.getByTestId("dirty-indicator")).toHaveCount(0);

  // A draft based on v2 while v3 got saved (another tab): restored, and the banner says so.
  await editor.select("transform_1");
  await editor.field("name").fill("Old draft");
  await expect.poll(async () => (await storedDraft(page))?.definition.steps[0].name).toBe("Old draft");
  const leftBehind = await page.evaluate(() => localStorage.getItem(`orchestrator:draft:${location.pathname.split("/").pop()}`));
  expect(JSON.parse(leftBehind!).basedOnVersion).toBe(2);
  await editor.field("name").fill("Saved elsewhere");
  await editor.save();
  await expect(page.getByTestId("saved-version")).toContainText("v3");
  await expect.poll(() => storedDraft(page)).toBeNull();
  await page.evaluate((text) => localStorage.setItem(`orchestrator:draft:${location.pathname.split("/").pop()}`, text!), leftBehind);
  await page.reload();
  await expect(page.getByTestId("draft-banner")).toBeVisible();
  await expect(page.getByTestId("draft-outdated")).toContainText("it was based on v2; v3 has been saved since");
  await expect(editor.status("transform_1")).toContainText("Old draft");

  // Discard: back to the saved v3, clean, and gone for good.
  await page.getByTestId("draft-discard").click();
  await expect(page.getByTestId("draft-banner")).toHaveCount(0);
  await expect(editor.status("transform_1")).toContainText("Saved elsewhere");
  await expect(page.getByTestId("dirty-indicator")).toHaveCount(0);
  await expect.poll(() => storedDraft(page)).toBeNull();
  await page.reload();
  await expect(page.getByTestId("draft-banner")).toHaveCount(0);
  await expect(editor.status("transform_1")).toContainText("Saved elsewhere");
});

test("invalid JSON is kept across selecting another step and a reload, blocks Save and Run naming step and field, and saves once fixed", async ({ page }) => {
  const editor = new EditorPage(page);
  await editor.openNew();
  await page.getByTestId("palette-transform").click();
  await page.getByTestId("palette-transform").click();
  await expect(editor.node("transform_2")).toBeVisible();

  await editor.select("transform_1");
  const schema = page.getByTestId("field-output-schema");
  await schema.fill('{ "type": "object", ');
  await expect(page.getByTestId("field-output-schema-error")).toContainText("Not valid JSON:");
  await expect(editor.status("transform_1")).toHaveAttribute("data-invalid", "true");
  await expect(page.getByTestId("node-issue-transform_1")).toContainText('Step "transform_1", field "outputSchema": not valid JSON');

  // Another step and back: the text is still there, as typed.
  await editor.select("transform_2");
  await expect(schema).toHaveValue("");
  await editor.select("transform_1");
  await expect(schema).toHaveValue('{ "type": "object", ');

  // A number a field cannot take is kept the same way.
  await editor.field("retry-attempts").fill("0");
  await expect(page.getByTestId("field-retry-attempts-error")).toContainText("enter a whole number of at least 1");

  // Save and Run are blocked, naming the step and the field.
  await editor.save();
  await expect(page.getByTestId("error-message")).toContainText('Not saved: Step "transform_1", field "outputSchema": not valid JSON');
  await expect(page.getByTestId("error-message")).toContainText("(and 1 more)");
  await expect(page.getByTestId("saved-version")).toContainText("not saved");
  await page.getByTestId("run-button").click();
  await expect(page.getByTestId("error-message")).toContainText('Not run: Step "transform_1", field "outputSchema"');
  await expect(page.getByTestId("run-status")).toHaveCount(0);

  // The texts are part of the draft: a reload keeps them.
  await expect.poll(async () => Boolean(await storedDraft(page))).toBe(true);
  await page.reload();
  await expect(page.getByTestId("draft-banner")).toBeVisible();
  await expect(editor.status("transform_1")).toHaveAttribute("data-invalid", "true");
  await editor.select("transform_1");
  await expect(schema).toHaveValue('{ "type": "object", ');
  await expect(editor.field("retry-attempts")).toHaveValue("0");

  // Fixed: the errors go, Save works, and the value is what was typed.
  await editor.field("retry-attempts").fill("2");
  await schema.fill('{ "type": "object" }');
  await expect(page.getByTestId("field-output-schema-error")).toHaveCount(0);
  await expect(editor.status("transform_1")).not.toHaveAttribute("data-invalid", "true");
  await editor.save();
  await expect(page.getByTestId("saved-version")).toContainText("v1");
  await page.reload();
  await editor.select("transform_1");
  await expect(schema).toHaveValue(/"type": "object"/);
  await expect(editor.field("retry-attempts")).toHaveValue("2");

  // Workflow settings too.
  await editor.deselect();
  await page.getByTestId("workflow-vars").fill("{ count: 0 }");
  await editor.save();
  await expect(page.getByTestId("error-message")).toContainText('Not saved: Workflow settings, field "vars": not valid JSON');
  await page.getByTestId("workflow-vars").fill('{ "count": 0 }');
  await expect(page.getByTestId("error-message")).toHaveCount(0);
  await editor.save();
  await expect(page.getByTestId("saved-version")).toContainText("v2");
});
