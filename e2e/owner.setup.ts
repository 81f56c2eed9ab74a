import { expect, test as setup } from "@playwright/test";
import { OWNER, OWNER_STATE, signInOwner } from "./fixtures/auth";

/**
 * Runs before the specs: a fresh server sends everyone to the first-run setup; the owner is created there and
 * the signed-in state is kept for the specs (they run as the owner unless they sign in as someone else).
 */
setup("first-run setup creates the owner and signs in", async ({ page }) => {
  await page.goto("/runs");
  await expect(page).toHaveURL(/\/setup$/);
  await signInOwner(page, "");
  await expect(page.getByTestId("current-user")).toContainText(OWNER.email);
  await page.context().storageState({ path: OWNER_STATE });
});
