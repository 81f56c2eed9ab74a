import { expect, test } from "@playwright/test";
import { EditorPage } from "./pages/editor";

const GATEWAY = `http://127.0.0.1:${process.env.E2E_GATEWAY_PORT ?? 4010}`;

test("a workflow with llm + code + http + map, built on the canvas, runs and shows every item", async ({ page }) => {
  const editor = new EditorPage(page);
  await editor.openNew();
  for (const [kind, y] of [["llm", 40], ["code", 200], ["http", 360], ["map", 520]] as const) await editor.dragStep(kind, { x: 420, y });
  await editor.connect("llm_1", "code_1");
  await editor.connect("code_1", "http_1");
  await editor.connect("http_1", "map_1");
  await expect(page.locator(".react-flow__edge")).toHaveCount(3);

  await editor.select("llm_1");
  await editor.field("model").fill("test-model");
  await editor.field("prompt").fill("owls bats");
  await editor.select("code_1");
  await editor.field("code").fill('console.log("splitting", steps.llm_1.text);\nreturn { words: steps.llm_1.text.split(" ").slice(1) };');
  await editor.select("http_1");
  await expect(editor.field("method")).toHaveValue("GET");
  await editor.field("url").fill(`${GATEWAY}/v1/models`);
  await editor.select("map_1");
  await editor.field("items").fill("{{ steps.code_1.words }}");
  await editor.field("concurrency").fill("2");
  await editor.field("steps").fill(
    JSON.stringify([
      { id: "shout", type: "code", config: { code: "return item.toUpperCase() + '#' + index;" } },
      { id: "ask", type: "llm", config: { model: "test-model", prompt: "{{ steps.shout }}" } },
    ]),
  );

  await page.getByTestId("run-button").click();
  await expect(page.getByTestId("run-status")).toHaveAttribute("data-status", "succeeded", { timeout: 20_000 });
  await page.getByTestId("open-run").click();
  await expect(page.getByTestId("step-output-code_1")).toContainText('"owls"');
  await expect(page.getByTestId("step-log-code_1")).toContainText("splitting Echo: owls bats");
  await expect(page.getByTestId("step-output-http_1")).toContainText('"status": 200');
  await expect(page.getByTestId("step-output-http_1")).toContainText("test-model");
  const map = page.getByTestId("step-output-map_1");
  await expect(map).toContainText("Echo: OWLS#0");
  await expect(map).toContainText("Echo: BATS#1");
  // Each item's steps are recorded and shown.
  await expect(page.getByTestId("step-output-map_1[1].ask")).toContainText("Echo: BATS#1");
  await expect(page.getByTestId("step-usage-llm_1")).toContainText("tokens");
});
