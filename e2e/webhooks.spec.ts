import { execFileSync } from "node:child_process";
import { createHmac } from "node:crypto";
import { request as httpRequest } from "node:http";
import { expect, test } from "@playwright/test";
import { EditorPage } from "./pages/editor";

test("webhook trigger: enable it in the editor, start runs by token URL and by timestamped signature (the panel's snippet too), wait for the output", async ({ page, request }) => {
  const editor = new EditorPage(page);
  await editor.openNew();
  await editor.dragStep("transform", { x: 400, y: 120 });
  await editor.select("transform_1");
  await editor.field("output").fill('"hello {{ input.name }}"');
  await editor.deselect();
  await page.getByTestId("workflow-input-schema").fill('{ "type": "object", "properties": { "name": { "type": "string" } }, "required": ["name"] }');
  await editor.save();
  await expect(page.getByTestId("saved-version")).toContainText("v1");
  await page.getByTestId("webhook-enable").click();
  await expect(page.getByTestId("webhook-state")).toHaveText("enabled");
  const url = (await page.getByTestId("webhook-url").textContent())!.trim();
  const secret = (await page.getByTestId("webhook-secret").textContent())!.trim();
  const snippet = (await page.getByTestId("webhook-curl").textContent())!;

  const started = await request.post(url, { data: { name: "ada" } });
  expect(started.status()).toBe(202);
  const { runId } = await started.json();
  await page.goto(`/runs/${runId}`);
  await expect(page.getByTestId("run-page-status")).toHaveAttribute("data-status", "succeeded");
  await expect(page.getByTestId("step-output-transform_1")).toContainText("hello ada");

  const body = JSON.stringify({ name: "bo" });
  const signedUrl = url.slice(0, url.lastIndexOf("/"));
  const ts = String(Math.floor(Date.now() / 1000));
  const headers = {
    "content-type": "application/json",
    "x-orchestrator-timestamp": ts,
    "x-orchestrator-signature": `sha256=${createHmac("sha256", secret).update(`${ts}.${body}`).digest("hex")}`,
  };
  const waited = await request.post(`${signedUrl}?wait=true`, { data: body, headers });
  expect(waited.status()).toBe(200);
  expect(await waited.json()).toMatchObject({ status: "succeeded", outputs: { transform_1: "hello bo" } });
  // The same signed request again is a replay: refused, no second run.
  const replayed = await request.post(`${signedUrl}?wait=true`, { data: body, headers });
  expect(replayed.status()).toBe(409);
  expect(await replayed.json()).toMatchObject({ error: { code: "WEBHOOK_REPLAYED" } });
  // The old form, a signature of the body alone, is refused saying what to sign.
  const old = await request.post(signedUrl, { data: body, headers: { "content-type": "application/json", "x-orchestrator-signature": `sha256=${createHmac("sha256", secret).update(body).digest("hex")}` } });
  expect(old.status()).toBe(401);
  expect((await old.json()).error.message).toContain('"<timestamp>.<body>"');

  // The panel's shell snippet (curl + openssl) signs and sends a request as shown.
  expect(snippet).toContain(signedUrl);
  const sent = execFileSync("bash", ["-c", snippet.replace("body='{}'", `body='{"name":"cy"}'`)], { encoding: "utf8", timeout: 10_000 });
  const { runId: snippetRun } = JSON.parse(sent) as { runId: string };
  await page.goto(`/runs/${snippetRun}`);
  await expect(page.getByTestId("step-output-transform_1")).toContainText("hello cy");

  expect((await request.post(`${signedUrl}?wait=true`, { data: body, headers: { ...headers, "x-orchestrator-signature": "sha256=00" } })).status()).toBe(401);
  // A body sent in chunks without a length is cut off at the cap while it is read, before any authentication.
  expect(await postChunked(url, 2 * 1024 * 1024)).toBe(413);
  const invalid = await request.post(url, { data: { name: 5 } });
  expect(invalid.status()).toBe(400);
  expect(JSON.stringify(await invalid.json())).toContain("input.name");
});

test("wait_webhook: the run waits, its page shows the callback URL, a POST there resumes it", async ({ page, request }) => {
  const editor = new EditorPage(page);
  await editor.openNew();
  await editor.dragStep("wait_webhook", { x: 400, y: 80 });
  await editor.dragStep("transform", { x: 400, y: 300 });
  await editor.connect("wait_webhook_1", "transform_1");
  await editor.select("wait_webhook_1");
  await editor.field("message").fill("waiting for the payment provider");
  await editor.select("transform_1");
  await editor.field("output").fill('"paid by {{ steps.wait_webhook_1.payer }}"');
  await page.getByTestId("run-button").click();
  await expect(page.getByTestId("run-status")).toHaveAttribute("data-status", "waiting", { timeout: 15_000 });
  await page.getByTestId("open-run").click();
  await expect(page.getByTestId("callback-panel")).toContainText("waiting for the payment provider");
  const callback = (await page.getByTestId("callback-url").textContent())!.trim();

  expect((await request.post(`${callback}x`, { data: {} })).status()).toBe(404);
  const parts = callback.split("/");
  parts[parts.length - 3] = "a%25b"; // a step id no step can have: unknown, not an error
  expect((await request.post(parts.join("/"), { data: {} })).status()).toBe(404);
  const delivered = await request.post(callback, { data: { payer: "acme" } });
  expect(delivered.status()).toBe(202);
  await expect(page.getByTestId("run-page-status")).toHaveAttribute("data-status", "succeeded", { timeout: 15_000 });
  await expect(page.getByTestId("step-output-transform_1")).toContainText("paid by acme");
  expect((await request.post(callback, { data: {} })).status()).toBe(409);
});

/**
 * POSTs `bytes` of filler with Transfer-Encoding: chunked (no Content-Length) and then keeps the request open,
 * never ending it: only a server that stops reading at its cap can answer. Resolves the status.
 */
function postChunked(url: string, bytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: "POST", headers: { "content-type": "application/json", "transfer-encoding": "chunked" } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
      req.destroy();
    });
    const timer = setTimeout(() => reject(new Error("no answer while the body was still open: the server waits for the whole body")), 10_000);
    req.on("close", () => clearTimeout(timer));
    // The server stops reading and answers while we still write: a broken pipe then is expected.
    req.on("error", () => {});
    const chunk = Buffer.alloc(64 * 1024, "a");
    let sent = 0;
    const pump = () => {
      while (sent < bytes) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once("drain", pump);
      }
    };
    pump();
  });
}
