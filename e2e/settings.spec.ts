import { expect, test } from "@playwright/test";

test("settings: HTTP allow-list, model prices and default model are checked and saved", async ({ page }) => {
  await page.goto("/settings");
  await expect(page.getByTestId("env-override")).toBeVisible(); // the e2e server sets LLM_GATEWAY_URL

  await page.getByTestId("http-allow").fill("api.internal\n10.0.0.0/99");
  await page.getByTestId("http-allow-save").click();
  await expect(page.getByTestId("http-allow-message")).toContainText('"10.0.0.0/99" is not a valid CIDR');
  await page.getByTestId("http-allow").fill("api.internal\n10.20.0.0/16");
  await page.getByTestId("http-allow-save").click();
  await expect(page.getByTestId("http-allow-message")).toHaveText("Saved");

  await page.getByTestId("prices").fill('{ "local-llama": { "inputPerMillion": "free" } }');
  await page.getByTestId("prices-save").click();
  await expect(page.getByTestId("prices-message")).toContainText("local-llama.inputPerMillion");
  await page.getByTestId("prices").fill('{ "local-llama": { "inputPerMillion": 0, "outputPerMillion": 0 } }');
  await page.getByTestId("prices-save").click();
  await expect(page.getByTestId("prices-message")).toHaveText("Saved");

  // The model field offers what the gateway lists.
  await expect(page.getByTestId("default-model-models").locator("option[value='test-model']")).toHaveCount(1);
  await page.getByTestId("default-model").fill("test-model");
  await page.getByTestId("default-model-save").click();
  await expect(page.getByTestId("default-model-message")).toHaveText("Saved");

  await page.getByTestId("retention-days").fill("0");
  await page.getByTestId("retention-save").click();
  await expect(page.getByTestId("retention-message")).toContainText("between 1 and 36500");
  await page.getByTestId("retention-days").fill("30");
  await page.getByTestId("retention-save").click();
  await expect(page.getByTestId("retention-message")).toHaveText("Saved");

  await page.reload();
  await expect(page.getByTestId("retention-days")).toHaveValue("30");
  await expect(page.getByTestId("http-allow")).toHaveValue("api.internal\n10.20.0.0/16");
  await expect(page.getByTestId("default-model")).toHaveValue("test-model");
  await expect(page.getByTestId("prices")).toHaveValue(/local-llama/);
});
