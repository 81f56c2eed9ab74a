import path from "node:path";
import { expect, request as requests, test, type APIRequestContext, type Page } from "@playwright/test";
import { createDb } from "@/lib/db";
import { OWNER } from "./fixtures/auth";
import { runCli } from "./fixtures/cli-process";
import { GATEWAY } from "./fixtures/server-process";

/**
 * The dashboards and /metrics against the real server after real runs (REST API, executed by the server's runner
 * with the test gateway): the charts render with the runs' data, the time range switches, the per-workflow
 * dashboard opens from the editor, recharts loads on the dashboard pages only, and /metrics counts the runs for
 * the owner's token.
 */
const BASE = `http://127.0.0.1:${process.env.E2E_PORT ?? 3100}`;
const dataDir = process.env.E2E_DATA_DIR!;
const cliEnv = { ...process.env, ORCHESTRATOR_DATA_DIR: dataDir, DATABASE_URL: "", LLM_GATEWAY_URL: `${GATEWAY}/v1`, LLM_API_KEY: "e2e", LOG_LEVEL: "warn" };
const tag = Date.now().toString(36);
const workflowId = `dash-${tag}`;

let token = "";
let api: APIRequestContext;

const definition = {
  id: workflowId,
  name: `Dashboard ${tag}`,
  input: { type: "object", properties: { fail: { type: "boolean" } } },
  steps: [
    { id: "ask", type: "llm", config: { model: "e2e-model", prompt: "Describe a dashboard in a few words {{ input.fail }}" } },
    { id: "check", type: "code", config: { code: "if (input.fail) throw new Error('asked to fail'); return { ok: true };" } },
  ],
  edges: [{ from: "ask", to: "check" }],
};

/** Every sample of a metric, summed over its label sets that match `labels`. */
async function metricSum(name: string, labels: Record<string, string> = {}): Promise<number> {
  const response = await api.get("/metrics");
  expect(response.status()).toBe(200);
  let sum = 0;
  for (const line of (await response.text()).split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) sum += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return sum;
}

let before = { succeeded: 0, failed: 0, llmSteps: 0 };

test.beforeAll(async () => {
  test.setTimeout(120_000);
  const created = await runCli(["tokens", "create", "--user", OWNER.email, "--name", `dashboard e2e ${tag}`, "--json"], { env: cliEnv });
  expect(created.code, created.stderr).toBe(0);
  token = JSON.parse(created.stdout).token;
  api = await requests.newContext({ baseURL: BASE, storageState: { cookies: [], origins: [] }, extraHTTPHeaders: { authorization: `Bearer ${token}` } });
  before = {
    succeeded: await metricSum("orchestrator_runs_finished_total", { status: "succeeded" }),
    failed: await metricSum("orchestrator_runs_finished_total", { status: "failed" }),
    llmSteps: await metricSum("orchestrator_step_duration_seconds_count", { kind: "llm", status: "succeeded" }),
  };
  expect((await api.post("/api/v1/workflows", { data: definition })).status()).toBe(201);
  for (const fail of [false, false, true]) {
    const run = await api.post(`/api/v1/workflows/${workflowId}/runs?wait=true`, { data: { fail } });
    expect(run.status()).toBe(200);
    const result = await run.json();
    expect(result.status, JSON.stringify(result)).toBe(fail ? "failed" : "succeeded");
  }
});

test.afterAll(async () => {
  await api?.dispose();
});

const barsOf = (page: Page, chart: string) => page.locator(`[data-testid="${chart}"] .recharts-bar-rectangle`);

test("the workflow's dashboard shows its real runs: figures, charts, slowest and costliest steps; the range switches", async ({ page }) => {
  const db = await createDb(`file:${path.join(dataDir, "orchestrator.db")}`);
  const rows = await db.run.findMany({ where: { workflowId }, select: { totalTokens: true } });
  await db.$disconnect();
  const tokens = rows.reduce((sum, r) => sum + (r.totalTokens ?? 0), 0);
  expect(tokens).toBeGreaterThan(0);

  // From the editor's toolbar.
  await page.goto(`/workflows/${workflowId}`);
  await page.getByTestId("open-dashboard").click();
  await expect(page).toHaveURL(new RegExp(`/workflows/${workflowId}/dashboard$`));
  const dashboard = page.getByTestId("dashboard");
  await expect(dashboard).toHaveAttribute("data-range", "24h");
  await expect(page.getByTestId("summary-runs")).toHaveText("3");
  await expect(page.getByTestId("summary-success-rate")).toHaveText("66.7%");
  await expect(page.getByTestId("summary-tokens")).toHaveText(tokens.toLocaleString("en-US"));
  await expect(page.getByTestId("summary-p50")).not.toHaveText("—");
  // The charts are drawn (SVG from recharts) with the runs: bars for the runs, a line for p50/p95, tokens.
  await expect(barsOf(page, "chart-runs").first()).toBeVisible();
  await expect(page.locator('[data-testid="chart-duration"] .recharts-line-dot').first()).toBeVisible();
  await expect(barsOf(page, "chart-usage").first()).toBeVisible();
  await expect(page.locator('[data-testid="slowest-steps-row"]')).toHaveCount(2);
  await expect(page.locator('[data-testid="costliest-steps-row"]')).toHaveCount(1);
  await expect(page.locator('[data-testid="costliest-steps-row"]')).toHaveAttribute("data-step", "ask");

  // 7 days: hourly buckets over the week, the same runs.
  await page.getByTestId("range-7d").click();
  await expect(page).toHaveURL(/\?range=7d$/);
  await expect(dashboard).toHaveAttribute("data-range", "7d");
  await expect(page.getByTestId("range-7d")).toHaveAttribute("aria-current", "page");
  await expect(page.getByTestId("summary-runs")).toHaveText("3");
  await expect(barsOf(page, "chart-runs").first()).toBeVisible();
  // 30 days: daily buckets.
  await page.getByTestId("range-30d").click();
  await expect(dashboard).toHaveAttribute("data-range", "30d");
  await expect(page.getByTestId("summary-runs")).toHaveText("3");
  await expect(barsOf(page, "chart-runs")).toHaveCount(2); // one day: succeeded and failed segments

  // A range that does not exist says which ones do.
  await page.goto(`/workflows/${workflowId}/dashboard?range=1y`);
  await expect(page.getByTestId("dashboard-error")).toContainText("range: one of 24h, 7d, 30d");
});

test("the overall dashboard opens from the navigation and includes the workflow; recharts loads on dashboard pages only", async ({ page }) => {
  const scripts: string[] = [];
  page.on("response", async (response) => {
    if (response.request().resourceType() === "script") scripts.push(await response.text().catch(() => ""));
  });
  await page.goto("/runs");
  await page.waitForLoadState("networkidle");
  expect(scripts.length).toBeGreaterThan(0);
  expect(scripts.some((text) => text.includes("recharts-wrapper"))).toBe(false);

  await page.getByTestId("nav-dashboard").click();
  await expect(page).toHaveURL(/\/dashboard$/);
  await expect(page.getByTestId("dashboard")).toHaveAttribute("data-range", "24h");
  expect(Number(await page.getByTestId("summary-runs").textContent())).toBeGreaterThanOrEqual(3);
  await expect(barsOf(page, "chart-runs").first()).toBeVisible();
  await expect(page.locator(`[data-testid="slowest-steps"] a[href="/workflows/${workflowId}/dashboard"]`).first()).toBeVisible();
  await page.waitForLoadState("networkidle");
  expect(scripts.some((text) => text.includes("recharts-wrapper"))).toBe(true);
});

test("GET /metrics: the owner's token reads the runs just made (Prometheus text, orchestrator_ names)", async () => {
  expect(await metricSum("orchestrator_runs_finished_total", { status: "succeeded" })).toBe(before.succeeded + 2);
  expect(await metricSum("orchestrator_runs_finished_total", { status: "failed" })).toBe(before.failed + 1);
  expect(await metricSum("orchestrator_step_duration_seconds_count", { kind: "llm", status: "succeeded" })).toBe(before.llmSteps + 3);
  expect(await metricSum("orchestrator_llm_tokens_total", { model: "e2e-model" })).toBeGreaterThan(0);
  const response = await api.get("/metrics");
  expect(response.headers()["content-type"]).toContain("text/plain");
  const names = [...(await response.text()).matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!);
  expect(names.filter((name) => !name.startsWith("orchestrator_"))).toEqual([]);
  expect(names).toContain("orchestrator_nodejs_eventloop_lag_seconds");
  // Without the token: 401.
  const anonymous = await requests.newContext({ baseURL: BASE, storageState: { cookies: [], origins: [] } });
  expect((await anonymous.get("/metrics")).status()).toBe(401);
  await anonymous.dispose();
});
