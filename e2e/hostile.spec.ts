import { expect, test } from "@playwright/test";
import { EditorPage } from "./pages/editor";

/**
 * Expressions that killed or froze the server (issue 9), run by the real server from a webhook: each run ends
 * `failed` with EXPRESSION_LIMIT naming the step and the field, the server answers other requests while the
 * run goes on and after it, and the canvas shows the failure.
 */
const HOSTILE = [
  { template: '{{ $length($pad("", 500000000)) }}', limit: "larger than" },
  { template: "{{ ($f := function($x){ $f($x) }; $f(1)) }}", limit: "ran longer than 1000 ms" },
  { template: "{{ ($f := function($x){ 1 + $f($x) }; $f(1)) }}", limit: "deeper than 1000 levels" },
  { template: '{{ $join([1..10000000].$string($), ",") }}', limit: "more than 1000000 items" },
];

test("hostile templates fail their step with EXPRESSION_LIMIT while the server keeps answering", async ({ page, request }) => {
  test.setTimeout(120_000);
  const editor = new EditorPage(page);
  await editor.openNew();
  await editor.dragStep("transform", { x: 400, y: 120 });
  await editor.select("transform_1");
  await editor.field("output").fill('"{{ input.name }}"');
  await editor.save();
  await expect(page.getByTestId("saved-version")).toContainText("v1");
  await editor.deselect();
  await page.getByTestId("webhook-enable").click();
  const url = (await page.getByTestId("webhook-url").textContent())!.trim();

  for (const [i, { template, limit }] of HOSTILE.entries()) {
    await editor.select("transform_1");
    await editor.field("output").fill(JSON.stringify(template));
    await editor.save();
    await expect(page.getByTestId("saved-version")).toContainText(`v${i + 2}`);

    let slowest = 0;
    let answered = 0;
    let going = true;
    const probing = (async () => {
      while (going) {
        const started = Date.now();
        expect((await request.get("/runs")).status()).toBe(200);
        slowest = Math.max(slowest, Date.now() - started);
        answered++;
      }
    })();
    const started = Date.now();
    const answer = await request.post(`${url}?wait=true`, { data: { name: "ada" } });
    const elapsed = Date.now() - started;
    going = false;
    await probing;

    expect(answer.status()).toBe(200);
    const result = await answer.json();
    expect(result).toMatchObject({ status: "failed", error: { code: "EXPRESSION_LIMIT", stepId: "transform_1" } });
    expect(result.error.message).toContain('field "config.output"');
    expect(result.error.message).toContain(limit);
    expect(answered).toBeGreaterThan(0);
    // The endless loop runs a full second in a worker: a blocked event loop would hold a page at least as long.
    expect(slowest).toBeLessThan(800);
  }
  // After all of them the server still serves pages and runs workflows.
  await editor.select("transform_1");
  await editor.field("output").fill('"hello {{ input.name }}"');
  await editor.save();
  await expect(page.getByTestId("saved-version")).toContainText(`v${HOSTILE.length + 2}`);
  const ok = await request.post(`${url}?wait=true`, { data: { name: "ada" } });
  expect(await ok.json()).toMatchObject({ status: "succeeded", outputs: { transform_1: "hello ada" } });
});
