import type { ChildProcess } from "node:child_process";
import { expect, request as apiRequest, test, type Browser, type Page } from "@playwright/test";
import { OWNER, signInOwner } from "./fixtures/auth";
import { crashTestEnv, exited, ready, startServer } from "./fixtures/server-process";

/**
 * Users and access in the browser, as a new install goes: the owner (the suite's signed-in user) adds an editor
 * and a viewer in Settings → Users and shares a workflow with each; the editor and the viewer then sign in in
 * browser contexts of their own, and each sees and can do exactly what the role and the share allow.
 */

const tag = Date.now().toString(36);
const EDITOR = { email: `editor-${tag}@example.com`, name: "Eddie Editor", password: "editor-password-1" };
const VIEWER = { email: `viewer-${tag}@example.com`, name: "Vera Viewer", password: "viewer-password-1" };

/** A workflow that stops at an approval: its run waits, so the run page would offer Cancel and Approve. */
const waitingWorkflow = (name: string) => ({
  name,
  schemaVersion: 1,
  steps: [
    { id: "start", type: "transform", config: { output: { hello: "world" } }, position: { x: 0, y: 0 } },
    { id: "review", type: "approval", config: { message: "Check the greeting" }, position: { x: 0, y: 160 } },
  ],
  edges: [{ from: "start", to: "review" }],
});

/** A new workflow made in the editor from a pasted definition and saved; returns its id. */
async function createWorkflow(page: Page, name: string): Promise<string> {
  await page.goto("/workflows/new");
  await expect(page.getByTestId("canvas")).toBeVisible();
  await page.getByTestId("import-button").click();
  await page.getByTestId("import-text").fill(JSON.stringify(waitingWorkflow(name)));
  await page.getByTestId("import-submit").click();
  await expect(page.getByTestId("workflow-title")).toHaveText(name);
  await page.getByTestId("save-button").click();
  await expect(page.getByTestId("saved-version")).toHaveText("v1");
  return new URL(page.url()).pathname.split("/").pop()!;
}

/** A browser context of its own (no owner session), signed in as `user` through the sign-in page. */
async function signInAs(browser: Browser, user: { email: string; password: string }): Promise<Page> {
  const context = await browser.newContext({ storageState: undefined });
  const page = await context.newPage();
  await page.goto("/");
  await expect(page).toHaveURL(/\/sign-in\?next=%2F$/);
  await page.getByTestId("sign-in-email").fill(user.email);
  await page.getByTestId("sign-in-password").fill(user.password);
  await page.getByTestId("sign-in-submit").click();
  await expect(page.getByTestId("current-user")).toContainText(user.email);
  return page;
}

async function addUser(page: Page, user: { email: string; name?: string; password: string }, role: string) {
  await page.getByTestId("new-user-email").fill(user.email);
  await page.getByTestId("new-user-name").fill(user.name ?? "");
  await page.getByTestId("new-user-role").selectOption(role);
  await page.getByTestId("new-user-password").fill(user.password);
  await page.getByTestId("new-user-add").click();
}

const acceptNextDialog = (page: Page) => page.once("dialog", (dialog) => void dialog.accept());

test("the owner adds an editor and a viewer and shares workflows; each sees and does exactly what the role allows", async ({ page, browser, baseURL }) => {
  test.setTimeout(240_000);
  let shared = "";
  let unshared = "";

  await test.step("owner: Settings → Users adds the editor and the viewer; bad input gets an inline error", async () => {
    await page.goto("/settings");
    await expect(page.getByTestId(`user-row-${OWNER.email}`)).toContainText("owner");
    await expect(page.getByTestId(`user-row-${OWNER.email}`).getByTestId("user-remove")).toHaveCount(0); // the owner is fixed

    await addUser(page, { email: EDITOR.email, password: "short" }, "editor");
    await expect(page.getByTestId("new-user-message")).toHaveText("password: at least 8 characters");
    await expect(page.getByTestId(`user-row-${EDITOR.email}`)).toHaveCount(0);

    await addUser(page, EDITOR, "editor");
    await expect(page.getByTestId("new-user-message")).toContainText(`Added ${EDITOR.email} (editor)`);
    await expect(page.getByTestId(`user-row-${EDITOR.email}`)).toContainText(EDITOR.name);
    await expect(page.getByTestId(`user-row-${EDITOR.email}`).getByTestId("user-role")).toHaveValue("editor");

    await addUser(page, VIEWER, "viewer");
    await expect(page.getByTestId("new-user-message")).toContainText(`Added ${VIEWER.email} (viewer)`);
    await expect(page.getByTestId(`user-row-${VIEWER.email}`).getByTestId("user-role")).toHaveValue("viewer");

    await addUser(page, { ...VIEWER, name: "Someone else" }, "editor");
    await expect(page.getByTestId("new-user-message")).toContainText(`a user with the email "${VIEWER.email}" already exists`);

    // Change a role, then remove the user (a third one, so the two above stay as they are).
    const temp = { email: `temp-${tag}@example.com`, password: "temp-password-1" };
    await addUser(page, temp, "viewer");
    const tempRow = page.getByTestId(`user-row-${temp.email}`);
    await expect(tempRow.getByTestId("user-role")).toHaveValue("viewer");
    await tempRow.getByTestId("user-role").selectOption("admin");
    await expect(tempRow.getByTestId("user-role")).toHaveValue("admin");
    await page.reload();
    await expect(tempRow.getByTestId("user-role")).toHaveValue("admin");
    acceptNextDialog(page);
    await tempRow.getByTestId("user-remove").click();
    await expect(tempRow).toHaveCount(0);
    await page.reload();
    await expect(tempRow).toHaveCount(0);
  });

  await test.step("owner: creates two workflows and shares one with the viewer (view) and the editor (edit)", async () => {
    unshared = await createWorkflow(page, `Owner only ${tag}`);
    shared = await createWorkflow(page, `Shared ${tag}`);

    await page.getByTestId("share-button").click();
    const dialog = page.getByTestId("share-dialog");
    await expect(dialog.getByTestId("share-none")).toBeVisible();

    // Unknown users and the owner are refused, with the reason.
    await dialog.getByTestId("share-email").fill(`nobody-${tag}@example.com`);
    await dialog.getByTestId("share-add").click();
    await expect(dialog.getByTestId("share-error")).toContainText(`no user with the email "nobody-${tag}@example.com"`);
    await dialog.getByTestId("share-email").fill(OWNER.email);
    await dialog.getByTestId("share-add").click();
    await expect(dialog.getByTestId("share-error")).toContainText("the owner of a workflow always has access");

    await dialog.getByTestId("share-email").fill(VIEWER.email);
    await dialog.getByTestId("share-new-permission").selectOption("edit");
    await dialog.getByTestId("share-add").click();
    const viewerShare = dialog.getByTestId(`share-row-${VIEWER.email}`);
    await expect(viewerShare.getByTestId("share-permission")).toHaveValue("edit");
    await expect(viewerShare).toContainText("their role is viewer: they can only view");
    await expect(dialog.getByTestId("share-error")).toHaveCount(0);
    await viewerShare.getByTestId("share-permission").selectOption("view");
    await expect(viewerShare.getByTestId("share-permission")).toHaveValue("view");
    await expect(viewerShare).not.toContainText("they can only view");

    await dialog.getByTestId("share-email").fill(EDITOR.email);
    await dialog.getByTestId("share-new-permission").selectOption("view");
    await dialog.getByTestId("share-add").click();
    const editorShare = dialog.getByTestId(`share-row-${EDITOR.email}`);
    await expect(editorShare.getByTestId("share-permission")).toHaveValue("view");
    await editorShare.getByTestId("share-remove").click();
    await expect(editorShare).toHaveCount(0);
    await dialog.getByTestId("share-email").fill(EDITOR.email);
    await dialog.getByTestId("share-new-permission").selectOption("edit");
    await dialog.getByTestId("share-add").click();
    await expect(editorShare.getByTestId("share-permission")).toHaveValue("edit");

    // Kept: the dialog opened again lists both.
    await dialog.getByTestId("share-close").click();
    await page.reload();
    await page.getByTestId("share-button").click();
    await expect(page.getByTestId(`share-row-${VIEWER.email}`).getByTestId("share-permission")).toHaveValue("view");
    await expect(page.getByTestId(`share-row-${EDITOR.email}`).getByTestId("share-permission")).toHaveValue("edit");
    await page.getByTestId("share-close").click();
  });

  const editor = await signInAs(browser, EDITOR);
  let runPath = "";
  let editorsOwn = "";
  await test.step("editor: sees the shared workflow (not the other), edits and runs it, and creates one of its own", async () => {
    await expect(editor.getByTestId(`workflow-row-${shared}`)).toBeVisible();
    await expect(editor.getByTestId(`workflow-owner-${shared}`)).toHaveText(OWNER.name);
    await expect(editor.getByTestId(`workflow-row-${unshared}`)).toHaveCount(0);
    expect((await editor.goto(`/workflows/${unshared}`))?.status()).toBe(404);

    await editor.goto(`/workflows/${shared}`);
    await expect(editor.getByTestId("workflow-title")).toHaveText(`Shared ${tag}`);
    await expect(editor.getByTestId("read-only-banner")).toHaveCount(0);
    await expect(editor.getByTestId("share-button")).toHaveCount(0); // sharing is the owner's (and admins')
    await expect(editor.getByTestId("delete-workflow")).toBeVisible();
    await editor.getByTestId("workflow-name").fill(`Shared ${tag} (edited)`);
    await editor.getByTestId("run-button").click(); // saves first
    await expect(editor.getByTestId("saved-version")).toHaveText("v2");
    await expect(editor.getByTestId("run-status")).toHaveAttribute("data-status", "waiting", { timeout: 30_000 });
    await expect(editor.getByTestId("cancel-run")).toBeVisible();
    runPath = (await editor.getByTestId("open-run").getAttribute("href"))!;

    await editor.goto("/");
    await expect(editor.getByTestId("new-workflow")).toBeVisible();
    editorsOwn = await createWorkflow(editor, `Editor's own ${tag}`);
    await expect(editor.getByTestId("share-button")).toBeVisible(); // its owner shares it
  });

  const viewer = await signInAs(browser, VIEWER);
  await test.step("viewer: sees only what is shared with it, read-only; others' workflows are 404", async () => {
    await expect(viewer.getByTestId(`workflow-row-${shared}`)).toBeVisible();
    await expect(viewer.getByTestId(`workflow-owner-${shared}`)).toHaveText(OWNER.name);
    await expect(viewer.getByTestId(`workflow-row-${unshared}`)).toHaveCount(0);
    await expect(viewer.getByTestId(`workflow-row-${editorsOwn}`)).toHaveCount(0);
    await expect(viewer.getByTestId("new-workflow")).toHaveCount(0);
    expect((await viewer.goto(`/workflows/${unshared}`))?.status()).toBe(404);
    expect((await viewer.goto(`/workflows/${editorsOwn}`))?.status()).toBe(404);
    await viewer.goto("/workflows/new");
    await expect(viewer).toHaveURL(new URL("/", baseURL).href);

    await viewer.goto(`/workflows/${shared}`);
    await expect(viewer.getByTestId("workflow-title")).toHaveText(`Shared ${tag} (edited)`);
    await expect(viewer.getByTestId("read-only-banner")).toContainText("View only: shared with you to view");
    for (const control of ["save-button", "run-button", "run-with-input", "import-button", "delete-workflow", "share-button", "undo-button", "cancel-run", "palette-transform"])
      await expect(viewer.getByTestId(control), control).toHaveCount(0);
    await expect(viewer.getByTestId("export-button")).toBeVisible();
    await expect(viewer.getByTestId("run-status")).toHaveAttribute("data-status", "waiting"); // the editor's run, followed live
    // The inspector shows, disabled; the webhook's state without its buttons.
    await expect(viewer.getByTestId("workflow-name")).toBeDisabled();
    await expect(viewer.getByTestId("webhook-state")).toHaveText("off");
    await expect(viewer.getByTestId("webhook-enable")).toHaveCount(0);
    await viewer.locator('.react-flow__node[data-id="start"]').click();
    await viewer.getByTestId("inspector-tab-config").click();
    await expect(viewer.getByTestId("field-output")).toBeDisabled();
    await viewer.locator('.react-flow__node[data-id="start"]').click();
    await viewer.keyboard.press("Delete");
    await expect(viewer.locator('.react-flow__node[data-id="start"]')).toBeVisible();
    await expect(viewer.getByTestId("dirty-indicator")).toHaveCount(0);

    // The run page: everything to read, nothing to act with.
    await viewer.goto(runPath);
    await expect(viewer.getByTestId("run-page-status")).toHaveAttribute("data-status", "waiting");
    await expect(viewer.getByTestId("run-view-only")).toBeVisible();
    await expect(viewer.getByTestId("approval-view-only")).toContainText("Check the greeting");
    await expect(viewer.getByTestId("approval-panel")).toHaveCount(0);
    await expect(viewer.getByTestId("cancel-run")).toHaveCount(0);
    await viewer.getByTestId("checkpoint-row").first().click();
    await expect(viewer.getByTestId("checkpoint-detail")).toBeVisible();
    await expect(viewer.getByTestId("resume-from-here")).toHaveCount(0);
    await expect(viewer.getByTestId("fork-run")).toHaveCount(0);

    // Settings: its account (and tokens) only.
    await viewer.goto("/settings");
    await expect(viewer.getByRole("heading", { level: 1 })).toHaveText("Account");
    await expect(viewer.getByTestId("account-summary")).toContainText(`${VIEWER.email} (viewer)`);
    for (const adminOnly of ["users-table", "new-user-email", "http-allow", "prices", "retention-days"]) await expect(viewer.getByTestId(adminOnly), adminOnly).toHaveCount(0);
  });

  await test.step("editor: the run page offers the controls; approving ends the run", async () => {
    await editor.goto(runPath);
    await expect(editor.getByTestId("run-view-only")).toHaveCount(0);
    await expect(editor.getByTestId("cancel-run")).toBeVisible();
    await editor.getByTestId("approve").click();
    await expect(editor.getByTestId("run-page-status")).toHaveAttribute("data-status", "succeeded", { timeout: 30_000 });
  });

  await test.step("viewer: an API token is shown once, works as the viewer, and stops working when revoked", async () => {
    await viewer.context().grantPermissions(["clipboard-read", "clipboard-write"]);
    await viewer.getByTestId("token-name").fill(`laptop ${tag}`);
    await viewer.getByTestId("token-create").click();
    await expect(viewer.getByTestId("token-created")).toContainText("not shown again");
    const token = (await viewer.getByTestId("token-value").textContent())!;
    expect(token).toMatch(/^orc_[\w-]{20,}$/);
    await viewer.getByTestId("token-copy").click();
    await expect(viewer.getByTestId("token-copy")).toHaveText("Copied");
    expect(await viewer.evaluate(() => navigator.clipboard.readText())).toBe(token);
    const row = viewer.locator(`[data-testid="token-row"][data-token-name="laptop ${tag}"]`);
    await expect(row.getByTestId("token-last-used")).toHaveText("never");

    // The token acts as the viewer (a client with no cookies).
    const client = await apiRequest.newContext({ baseURL });
    try {
      const asViewer = await client.get("/settings", { headers: { authorization: `Bearer ${token}` } });
      expect(asViewer.status()).toBe(200);
      expect(await asViewer.text()).toContain(`${VIEWER.email} (viewer)`);

      await viewer.reload();
      await expect(viewer.getByTestId("token-created")).toHaveCount(0); // shown once
      await expect(viewer.locator("body")).not.toContainText(token);
      await expect(row.getByTestId("token-last-used")).not.toHaveText("never");

      acceptNextDialog(viewer);
      await row.getByTestId("token-revoke").click();
      await expect(row).toHaveCount(0);
      await expect(viewer.getByTestId("tokens-empty")).toBeVisible();

      const revoked = await client.get("/settings", { headers: { authorization: `Bearer ${token}` } });
      expect(new URL(revoked.url()).pathname).toBe("/sign-in");
      expect(await revoked.text()).not.toContain(VIEWER.email);
    } finally {
      await client.dispose();
    }
  });

  await test.step("owner: sees everyone's tokens with their user and revokes one; a user who owns workflows is not removed", async () => {
    await editor.goto("/settings");
    await expect(editor.getByRole("heading", { level: 1 })).toHaveText("Account");
    await editor.getByTestId("token-name").fill(`script ${tag}`);
    await editor.getByTestId("token-create").click();
    await expect(editor.getByTestId("token-value")).toHaveText(/^orc_/);

    await page.goto("/settings");
    const row = page.locator(`[data-testid="token-row"][data-token-name="script ${tag}"]`);
    await expect(row.getByTestId("token-user")).toHaveText(EDITOR.email);
    acceptNextDialog(page);
    await row.getByTestId("token-revoke").click();
    await expect(row).toHaveCount(0);
    await editor.reload();
    await expect(editor.getByTestId("tokens-empty")).toBeVisible();

    const editorRow = page.getByTestId(`user-row-${EDITOR.email}`);
    acceptNextDialog(page);
    await editorRow.getByTestId("user-remove").click();
    await expect(editorRow.getByTestId("user-row-error")).toContainText("the user owns workflows");
    await expect(editorRow).toBeVisible();
  });

  await test.step("editor: deletes its workflow after a confirm and is back at the list", async () => {
    await editor.goto(`/workflows/${editorsOwn}`);
    editor.once("dialog", (dialog) => void dialog.dismiss());
    await editor.getByTestId("delete-workflow").click();
    await expect(editor).toHaveURL(new RegExp(`/workflows/${editorsOwn}$`)); // dismissed: nothing happens
    acceptNextDialog(editor);
    await editor.getByTestId("delete-workflow").click();
    await expect(editor).toHaveURL(new URL("/", baseURL).href);
    await expect(editor.getByTestId(`workflow-row-${shared}`)).toBeVisible();
    await expect(editor.getByTestId(`workflow-row-${editorsOwn}`)).toHaveCount(0);
    // Gone for everyone: the owner (an admin sees every workflow) no longer lists it.
    await page.goto("/");
    await expect(page.getByTestId(`workflow-row-${shared}`)).toBeVisible();
    await expect(page.getByTestId(`workflow-row-${editorsOwn}`)).toHaveCount(0);
  });

  await editor.context().close();
  await viewer.context().close();
});

test("sign-in: a wrong password is refused with a message; sign-out ends the session", async ({ browser }) => {
  const context = await browser.newContext({ storageState: undefined });
  const page = await context.newPage();
  await page.goto("/runs");
  await expect(page).toHaveURL(/\/sign-in\?next=%2Fruns$/);
  await page.getByTestId("sign-in-email").fill(OWNER.email);
  await page.getByTestId("sign-in-password").fill("not-the-password");
  await page.getByTestId("sign-in-submit").click();
  await expect(page.getByTestId("sign-in-error")).toHaveText("Wrong email or password.");
  await expect(page.getByTestId("current-user")).toHaveCount(0);

  await page.getByTestId("sign-in-password").fill(OWNER.password);
  await page.getByTestId("sign-in-submit").click();
  await expect(page).toHaveURL(/\/runs$/); // back where it was going
  await expect(page.getByTestId("current-user")).toContainText(OWNER.email);

  await page.getByTestId("sign-out").click();
  await expect(page).toHaveURL(/\/sign-in$/);
  await page.goto("/settings");
  await expect(page).toHaveURL(/\/sign-in\?next=%2Fsettings$/);
  await context.close();
});

/**
 * The sign-in rate limit, on a server of its own (a low limit; the suite's server would refuse sign-ins for a
 * minute): after ORCHESTRATOR_SIGN_IN_RATE attempts in a minute from one address, the next — even with the
 * right password — gets "Too many attempts".
 */
test("sign-in: too many attempts from one address are refused for a while", async ({ browser }) => {
  test.setTimeout(90_000);
  const port = 3362;
  const base = `http://127.0.0.1:${port}`;
  const server: ChildProcess = startServer(port, { ...crashTestEnv("access"), ORCHESTRATOR_SIGN_IN_RATE: "3" });
  try {
    await ready(`${base}/sign-in`);
    const setupContext = await browser.newContext({ storageState: undefined });
    await signInOwner(await setupContext.newPage(), base); // the first-run setup signs in: attempt 1
    await setupContext.close();

    const context = await browser.newContext({ storageState: undefined });
    const page = await context.newPage();
    await page.goto(`${base}/sign-in`);
    const error = page.getByTestId("sign-in-error");
    /** One sign-in through the form; the status Better Auth answered. */
    const attempt = async (password: string) => {
      await page.getByTestId("sign-in-email").fill(OWNER.email);
      await page.getByTestId("sign-in-password").fill(password);
      const answer = page.waitForResponse((response) => new URL(response.url()).pathname === "/api/auth/sign-in/email");
      await page.getByTestId("sign-in-submit").click();
      return (await answer).status();
    };
    expect(await attempt("wrong-password-2")).toBe(401);
    await expect(error).toHaveText("Wrong email or password.");
    expect(await attempt("wrong-password-3")).toBe(401);
    expect(await attempt("wrong-password-4")).toBe(429);
    await expect(error).toHaveText("Too many attempts: wait a minute and try again.");
    expect(await attempt(OWNER.password)).toBe(429); // the right password too, until the minute is over
    await expect(error).toHaveText("Too many attempts: wait a minute and try again.");
    await expect(page.getByTestId("current-user")).toHaveCount(0);
    await context.close();
  } finally {
    server.kill("SIGTERM");
    await exited(server);
  }
});
