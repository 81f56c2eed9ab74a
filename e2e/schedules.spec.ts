import { expect, test } from "@playwright/test";
import { signInOwner } from "./fixtures/auth";
import { crashTestEnv, ready, startServer } from "./fixtures/server-process";

/**
 * Schedules in the editor, on a server of its own (port 3401, its own database) whose interval "minute" lasts 2 s
 * (ORCHESTRATOR_SCHEDULE_MINUTE_MS, tests only), so an every-minute schedule fires while the test watches: add a
 * cron schedule in a time zone and see its description and next fire times there, add an every-minute one, see
 * its run in the history under trigger `schedule`, pause it and see no more runs come.
 */
const PORT = 3401;
const BASE = `http://127.0.0.1:${PORT}`;
const env = { ...crashTestEnv("schedules"), ORCHESTRATOR_SCHEDULE_MINUTE_MS: "2000", ORCHESTRATOR_SCHEDULE_POLL_MS: "200" };

test("a schedule made in the editor lists its next fire times, fires runs that the history shows as schedule, and pauses", async ({ page }) => {
  test.setTimeout(180_000);
  const server = startServer(PORT, env);
  try {
    await ready(`${BASE}/`);
    await signInOwner(page, BASE);
    const workflowId = `sched-${Date.now().toString(36)}`;
    await page.goto(`${BASE}/workflows/${workflowId}`);
    await page.getByTestId("palette-transform").click();
    await page.getByTestId("save-button").click();
    await expect(page.getByTestId("schedules-button")).toBeVisible({ timeout: 20_000 });

    await page.getByTestId("schedules-button").click();
    const dialog = page.getByTestId("schedules-dialog");
    await expect(dialog.getByTestId("schedules-none")).toBeVisible();

    // A cron schedule in Berlin: described in words, five next fire times at 09:00 Berlin time (CET or CEST).
    await dialog.getByTestId("schedule-add").click();
    await dialog.getByTestId("schedule-form-name").fill("Weekday mornings");
    await dialog.getByTestId("schedule-form-cron").fill("0 9 * * 1-5");
    await dialog.getByTestId("schedule-form-timezone").fill("Mars/Base");
    await dialog.getByTestId("schedule-form-save").click();
    await expect(dialog.getByTestId("schedules-error")).toContainText('timezone: "Mars/Base" is not a time zone');
    await dialog.getByTestId("schedule-form-timezone").fill("Europe/Berlin");
    await dialog.getByTestId("schedule-form-save").click();
    const cronRow = dialog.getByTestId("schedule-row").filter({ hasText: "Weekday mornings" });
    await expect(cronRow.getByTestId("schedule-description")).toHaveText("Every weekday at 09:00 (Europe/Berlin)");
    const fires = cronRow.getByTestId("schedule-upcoming").locator("li");
    await expect(fires).toHaveCount(5);
    for (const text of await fires.allTextContents()) expect(text).toMatch(/^(Mon|Tue|Wed|Thu|Fri), .* 09:00:00 (CET|CEST)$/);

    // Every minute (2 s on this server): it fires runs with trigger schedule.
    await dialog.getByTestId("schedule-add").click();
    await dialog.getByTestId("schedule-form-name").fill("Pulse");
    await dialog.getByTestId("schedule-form-kind").selectOption("interval");
    await dialog.getByTestId("schedule-form-every").fill("1");
    await dialog.getByTestId("schedule-form-save").click();
    const pulse = dialog.getByTestId("schedule-row").filter({ hasText: "Pulse" });
    await expect(pulse.getByTestId("schedule-description")).toHaveText("Every minute");
    await expect(pulse.getByTestId("schedule-upcoming").locator("li")).toHaveCount(5);
    await expect(pulse.getByTestId("schedule-state")).toHaveText("active");

    const history = await page.context().newPage();
    const scheduledRows = history.locator('tr[data-testid^="run-row-"]');
    await expect(async () => {
      await history.goto(`${BASE}/runs?trigger=schedule&workflow=${workflowId}`);
      expect(await scheduledRows.count()).toBeGreaterThan(0);
    }).toPass({ timeout: 30_000 });
    await expect(scheduledRows.first().getByTestId("run-trigger")).toHaveText("schedule");
    // Not under another trigger.
    await history.goto(`${BASE}/runs?trigger=ui&workflow=${workflowId}`);
    await expect(history.getByTestId("runs-empty")).toBeVisible();

    // Pause: the row says so, lists no fire times, and no new run comes.
    await pulse.getByTestId("schedule-pause").click();
    await expect(pulse.getByTestId("schedule-state")).toHaveText("paused");
    await expect(pulse.getByTestId("schedule-upcoming")).toHaveCount(0);
    await expect(pulse.getByTestId("schedule-last")).toContainText("started");
    await page.waitForTimeout(2_500); // a fire handled as the pause landed has made its run by now
    await history.goto(`${BASE}/runs?trigger=schedule&workflow=${workflowId}&limit=500`);
    const afterPause = await scheduledRows.count();
    await page.waitForTimeout(6_000); // three ticks
    await history.goto(`${BASE}/runs?trigger=schedule&workflow=${workflowId}&limit=500`);
    expect(await scheduledRows.count()).toBe(afterPause);

    // Resume, then delete.
    await pulse.getByTestId("schedule-resume").click();
    await expect(pulse.getByTestId("schedule-state")).toHaveText("active");
    await pulse.getByTestId("schedule-delete").click();
    await expect(dialog.getByTestId("schedule-row")).toHaveCount(1);
  } finally {
    server.kill("SIGTERM");
  }
});
