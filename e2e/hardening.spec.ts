import { request as httpRequest } from "node:http";
import { expect, test, type Page } from "@playwright/test";
import { EditorPage } from "./pages/editor";

/**
 * The real server (server.ts, production build): only known hosts are served (DNS rebinding), Socket.IO takes
 * same-host pages only, and every page carries a nonce CSP under which the editor, a live run and the settings
 * work without a single violation in Chromium.
 */
const PORT = Number(process.env.E2E_PORT ?? 3100);

/** A request with exactly these headers (a browser or fetch would set Host from the URL). */
function raw(method: string, path: string, headers: Record<string, string>, body?: string) {
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>((resolve, reject) => {
    const req = httpRequest({ host: "127.0.0.1", port: PORT, method, path, headers }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (text += chunk));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

test("a foreign Host gets 421 naming ORCHESTRATOR_ALLOWED_HOSTS for pages, action calls and webhooks; loopback names are served", async () => {
  const foreign = "rebind.attacker.example";
  for (const [method, path, headers, body] of [
    ["GET", "/", {}, undefined],
    ["GET", "/settings", {}, undefined],
    ["POST", "/workflows/new", { "next-action": "7f00000000000000000000000000000000000000", "content-type": "text/plain;charset=UTF-8" }, "[]"],
    ["POST", "/api/hooks/some-workflow/some-token", { "content-type": "application/json" }, "{}"],
    ["POST", "/api/callbacks/r/s/1/t", { "content-type": "application/json" }, "{}"],
  ] as const) {
    const answer = await raw(method, path, { host: `${foreign}:${PORT}`, ...headers }, body);
    expect(answer.status, `${method} ${path}`).toBe(421);
    const { error } = JSON.parse(answer.body);
    expect(error.code).toBe("HOST_NOT_ALLOWED");
    expect(error.message).toContain("ORCHESTRATOR_ALLOWED_HOSTS");
  }
  // Without a session the page sends to sign-in: served, not misdirected.
  for (const host of [`127.0.0.1:${PORT}`, `localhost:${PORT}`]) expect((await raw("GET", "/", { host })).status, host).toBeLessThan(400);
});

test("Socket.IO refuses a handshake with a foreign Host or a foreign page's Origin, and takes the app's own pages", async () => {
  const handshake = (headers: Record<string, string>) => raw("GET", "/socket.io/?EIO=4&transport=polling", headers);
  expect((await handshake({ host: "rebind.attacker.example" })).status).toBe(403);
  const foreignPage = await handshake({ host: `127.0.0.1:${PORT}`, origin: "https://attacker.example" });
  expect(foreignPage.status).toBe(403);
  expect(foreignPage.body).toContain("may not connect");
  expect((await handshake({ host: `127.0.0.1:${PORT}`, origin: `http://127.0.0.1:${PORT}` })).status).toBe(200);
  expect((await handshake({ host: `localhost:${PORT}`, origin: `http://localhost:${PORT}` })).status).toBe(200);
});

test("pages carry a nonce CSP and the other security headers; Next's scripts carry the nonce", async ({ page }) => {
  const response = await page.goto("/workflows/new");
  const headers = response!.headers();
  const policy = headers["content-security-policy"];
  const nonce = /'nonce-([^']+)'/.exec(policy)?.[1];
  expect(nonce).toBeTruthy();
  for (const directive of ["default-src 'self'", "frame-ancestors 'none'", "object-src 'none'", "base-uri 'self'", "form-action 'self'", `connect-src 'self' ws://127.0.0.1:${PORT}`])
    expect(policy).toContain(directive);
  expect(policy).not.toContain("unsafe-eval"); // production
  expect(headers).toMatchObject({ "x-content-type-options": "nosniff", "referrer-policy": "same-origin", "x-frame-options": "DENY" });
  expect(headers["permissions-policy"]).toContain("camera=()");
  // Every script element the server wrote carries this response's nonce (the browser hides it from getAttribute).
  const scripts = await page.locator("script").evaluateAll((nodes) => nodes.map((n) => (n as HTMLScriptElement).nonce));
  expect(scripts.length).toBeGreaterThan(0);
  expect(new Set(scripts)).toEqual(new Set([nonce]));
  const again = await page.request.get("/workflows/new");
  expect(again.headers()["content-security-policy"]).not.toContain(nonce!);
});

/** Collects CSP violations (the event and the console report) from the start of every document. */
async function watchViolations(page: Page) {
  const reports: string[] = [];
  await page.exposeFunction("__reportViolation", (text: string) => reports.push(text));
  await page.addInitScript(() => {
    document.addEventListener(
      "securitypolicyviolation",
      (e) => (window as unknown as { __reportViolation(t: string): void }).__reportViolation(`${e.violatedDirective} blocked ${e.blockedURI} (${e.sourceFile}:${e.lineNumber})`),
      true,
    );
  });
  page.on("console", (message) => {
    if (/Content Security Policy|Refused to/i.test(message.text())) reports.push(`console: ${message.text()}`);
  });
  return reports;
}

test("under the CSP the editor, a live run on its page and the settings work without a single violation", async ({ page }) => {
  const violations = await watchViolations(page);
  const editor = new EditorPage(page);
  await editor.openNew();
  await editor.dragStep("llm", { x: 400, y: 120 });
  await editor.dragStep("transform", { x: 400, y: 330 });
  await editor.connect("llm_1", "transform_1");
  await expect(page.locator(".react-flow__edge")).toHaveCount(1);
  await editor.select("llm_1");
  await editor.field("model").fill("slow-1500");
  await editor.field("prompt").fill("Say hello");
  await editor.select("transform_1");
  await editor.field("output").fill('{ "answer": "{{ steps.llm_1.text }}" }');
  await editor.deselect();
  await page.getByTestId("workflow-name").fill("CSP check");
  await editor.save();
  await expect(page.getByTestId("saved-version")).toContainText("v1");

  // Live over Socket.IO (connect-src): the node turns running, then succeeded.
  await page.getByTestId("run-button").click(); // no input schema: it starts at once
  await expect(editor.status("llm_1")).toHaveAttribute("data-status", "running");
  await expect(editor.status("transform_1")).toHaveAttribute("data-status", "succeeded", { timeout: 15_000 });
  const runLink = page.getByTestId("open-run");
  await expect(runLink).toHaveAttribute("href", /\/runs\//);
  await page.goto((await runLink.getAttribute("href"))!);
  await expect(page.getByTestId("run-page-status")).toHaveAttribute("data-status", "succeeded", { timeout: 20_000 });

  // The run form's check (Ajv compiles schemas to functions: under the CSP it runs on the server).
  await page.goBack();
  await expect(editor.canvas).toBeVisible();
  await page.getByTestId("workflow-input-schema").fill('{ "type": "object", "properties": { "topic": { "type": "string" } }, "required": ["topic"] }');
  await editor.save();
  await expect(page.getByTestId("saved-version")).toContainText("v2");
  await page.getByTestId("run-button").click();
  await page.getByTestId("run-submit").click();
  await expect(page.getByTestId("input-topic-error")).toHaveText("is required");
  await page.getByTestId("input-topic").fill("cats");
  await page.getByTestId("run-submit").click();
  await expect(editor.status("transform_1")).toHaveAttribute("data-status", "succeeded", { timeout: 15_000 });

  await page.goto("/settings");
  await page.getByTestId("test-connection").click();
  await expect(page.getByTestId("test-connection-result")).toHaveAttribute("data-ok", "true");
  expect(violations).toEqual([]);
});

test("the sign-in page works under the CSP without a violation", async ({ browser }) => {
  const context = await browser.newContext({ storageState: { cookies: [], origins: [] } });
  const page = await context.newPage();
  const violations = await watchViolations(page);
  await page.goto("/");
  await expect(page).toHaveURL(/\/sign-in/);
  await page.getByTestId("sign-in-email").fill("nobody@example.com");
  await page.getByTestId("sign-in-password").fill("wrong-password");
  await page.getByTestId("sign-in-submit").click();
  await expect(page.getByTestId("sign-in-error")).toBeVisible();
  expect(violations).toEqual([]);
  await context.close();
});
