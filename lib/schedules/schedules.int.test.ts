import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestRunner, testDatabases } from "@/e2e/fixtures/databases";
import { actorById } from "@/lib/auth/access";
import { addUser } from "@/lib/auth/users";
import { listRuns } from "@/lib/runner/queries";
import type { WorkflowDefinition } from "@/lib/workflow/schema";
import { saveWorkflowVersion, setShare } from "@/lib/workflows/repository";
import { fireSchedule, type FireDeps } from "./fire";
import { InlineScheduler } from "./inline";
import { createSchedule, deleteSchedule, listSchedules, MAX_SCHEDULES_PER_WORKFLOW, setScheduleEnabled, updateSchedule, type ScheduleDeps } from "./repository";

/**
 * Schedules on the real runner and database (SQLite, Postgres): the one-process scheduler driven by an injected
 * clock, once-per-fire under concurrent deliveries, the missed-fire policies across a restart, and scoping.
 */

const databases = await testDatabases();

const greet: WorkflowDefinition = {
  id: "greet",
  name: "Greet",
  input: { type: "object", properties: { who: { type: "string" } }, required: ["who"] },
  steps: [{ id: "say", type: "transform", config: { output: { said: "hello {{ input.who }}" } } }],
};

const T0 = new Date("2026-06-01T10:00:30Z");
const minutes = (n: number) => new Date(T0.getTime() + n * 60_000);

describe.each(databases)("schedules on %s", (_name, makeDatabase, available) => {
  let harness: Awaited<ReturnType<typeof openTestRunner>>;
  let deps: ScheduleDeps;
  let fire: FireDeps;
  const users = { alice: "", bob: "", vera: "", stranger: "" };

  const scheduledRuns = async (userId: string) => (await listRuns(harness, userId, { trigger: "schedule", limit: 500 })).runs;
  const firesOf = (scheduleId: string) => harness.db.scheduleFire.findMany({ where: { scheduleId }, orderBy: { fireTime: "asc" } });
  const settle = async () => {
    for (const run of await harness.db.run.findMany({ where: { status: { in: ["queued", "running"] } }, select: { id: true } })) await harness.runner.waitForRun(run.id);
  };

  beforeAll(async () => {
    if (!available) return;
    harness = await openTestRunner(makeDatabase());
    deps = { db: harness.db, minuteMs: 60_000 };
    fire = { db: harness.db, sql: harness.sql, runner: harness.runner, graceMs: 60_000, minuteMs: 60_000 };
    const owner = await actorById(harness.db, harness.userId);
    users.alice = (await addUser(harness.db, owner, { email: "alice@example.com", password: "alice-password-1", role: "editor" })).id;
    users.bob = (await addUser(harness.db, owner, { email: "bob@example.com", password: "bob-password-1", role: "editor" })).id;
    users.vera = (await addUser(harness.db, owner, { email: "vera@example.com", password: "vera-password-1", role: "editor" })).id;
    users.stranger = (await addUser(harness.db, owner, { email: "stranger@example.com", password: "stranger-password-1", role: "editor" })).id;
    await saveWorkflowVersion(harness.db, users.alice, greet);
    await setShare(harness.db, users.alice, "greet", "bob@example.com", "edit");
    await setShare(harness.db, users.alice, "greet", "vera@example.com", "view");
  });
  afterAll(async () => harness?.close());

  it.skipIf(!available)("fires an every-10-minutes schedule on the injected clock: one run per fire time, trigger schedule, as its owner", async () => {
    const created = await createSchedule(deps, users.alice, "greet", { name: "Ten", kind: "interval", everyMinutes: 10, input: { who: "clock" } }, T0);
    expect(created.upcoming.map((u) => u.at)).toEqual(["2026-06-01T10:10:00.000Z", "2026-06-01T10:20:00.000Z", "2026-06-01T10:30:00.000Z", "2026-06-01T10:40:00.000Z", "2026-06-01T10:50:00.000Z"]);
    let now = minutes(5);
    const scheduler = new InlineScheduler(fire, { pollMs: 1000, now: () => now });
    expect(await scheduler.tick()).toEqual([]); // nothing due at 10:05
    now = minutes(9.6); // 10:10:06
    const [first] = await scheduler.tick();
    expect(first).toMatchObject({ outcome: "started", missed: 0 });
    expect(first.outcome === "started" && first.fireTime.toISOString()).toBe("2026-06-01T10:10:00.000Z");
    expect(await scheduler.tick()).toEqual([]); // the same moment again: nothing owed
    now = minutes(19.6);
    expect((await scheduler.tick()).map((o) => o.outcome)).toEqual(["started"]);
    await settle();

    const runs = (await scheduledRuns(users.alice)).filter((r) => r.workflowId === "greet");
    expect(runs).toHaveLength(2);
    const rows = await harness.db.run.findMany({ where: { id: { in: runs.map((r) => r.runId) } } });
    for (const row of rows) {
      expect(row, row.error ?? "").toMatchObject({ trigger: "schedule", source: "schedule", ownerId: users.alice, status: "succeeded", workflowVersion: 1 });
      expect(JSON.parse(row.input!)).toEqual({ who: "clock" });
    }
    const [view] = (await listSchedules(deps, users.alice, "greet")).filter((s) => s.id === created.id);
    expect(view).toMatchObject({ lastStatus: "started", lastFiredAt: "2026-06-01T10:20:00.000Z" });
    const audit = await harness.db.auditLog.findMany({ where: { action: "run.start", targetId: { in: runs.map((r) => r.runId) } } });
    expect(audit).toHaveLength(2);
    expect(JSON.parse(audit[0].data!)).toMatchObject({ origin: "schedule", scheduleId: created.id });
    await deleteSchedule(deps, users.alice, created.id);
  });

  it.skipIf(!available)("a fire delivered many times at once (workers, redeliveries) starts one run", async () => {
    const created = await createSchedule(deps, users.alice, "greet", { name: "Dup", kind: "cron", cron: "0 12 * * *", timezone: "Europe/Berlin", input: { who: "dup" } }, T0);
    const fireTime = new Date("2026-06-01T10:00:00Z"); // 12:00 in Berlin (CEST)
    await harness.db.schedule.update({ where: { id: created.id }, data: { activeSince: new Date("2026-06-01T09:00:00Z") } });
    const outcomes = await Promise.all(Array.from({ length: 8 }, () => fireSchedule(fire, created.id, fireTime, new Date("2026-06-01T10:00:01Z"))));
    expect(outcomes.filter((o) => o.outcome === "started")).toHaveLength(1);
    expect(outcomes.filter((o) => o.outcome !== "started").every((o) => o.outcome === "duplicate")).toBe(true);
    const fires = await firesOf(created.id);
    expect(fires).toHaveLength(1);
    expect(await harness.db.run.count({ where: { id: fires[0].runId! } })).toBe(1);
    await settle();
    await deleteSchedule(deps, users.alice, created.id);
  });

  it.skipIf(!available)("after downtime: run_once starts one run for the missed fires, skip starts none; both go on normally after", async () => {
    const once = await createSchedule(deps, users.alice, "greet", { name: "Once", kind: "interval", everyMinutes: 10, input: { who: "once" } }, T0);
    const skip = await createSchedule(deps, users.alice, "greet", { name: "Skip", kind: "interval", everyMinutes: 10, input: { who: "skip" }, missedPolicy: "skip" }, T0);
    // The first process fires 10:10, then stops.
    let now = minutes(9.6);
    await new InlineScheduler(fire, { pollMs: 1000, now: () => now }).tick();
    // A new process (a restart) starts at 11:03:30: 10:20 … 11:00 (five fire times) passed while nothing ran.
    now = minutes(63);
    const restarted = new InlineScheduler(fire, { pollMs: 1000, now: () => now });
    const outcomes = await restarted.tick();
    expect(outcomes.find((o) => o.outcome === "started" && o.fireTime.toISOString() === "2026-06-01T11:00:00.000Z")).toMatchObject({ missed: 4 });
    expect(outcomes.find((o) => o.outcome === "skipped")).toMatchObject({ missed: 4, reason: expect.stringMatching(/missed-fire policy is skip/) });
    expect(await restarted.tick()).toEqual([]);
    // Then 11:10 fires normally for both.
    now = minutes(69.6);
    expect((await restarted.tick()).map((o) => o.outcome).sort()).toEqual(["started", "started"]);
    await settle();
    expect((await firesOf(once.id)).map((f) => [f.fireTime.toISOString(), f.status])).toEqual([
      ["2026-06-01T10:10:00.000Z", "started"],
      ["2026-06-01T11:00:00.000Z", "started"],
      ["2026-06-01T11:10:00.000Z", "started"],
    ]);
    expect((await firesOf(skip.id)).map((f) => [f.fireTime.toISOString(), f.status])).toEqual([
      ["2026-06-01T10:10:00.000Z", "started"],
      ["2026-06-01T11:00:00.000Z", "skipped"],
      ["2026-06-01T11:10:00.000Z", "started"],
    ]);
    await deleteSchedule(deps, users.alice, once.id);
    await deleteSchedule(deps, users.alice, skip.id);
  });

  it.skipIf(!available)("paused fires nothing, and resuming owes nothing from the pause", async () => {
    const created = await createSchedule(deps, users.alice, "greet", { name: "Pause", kind: "interval", everyMinutes: 10, input: { who: "p" } }, T0);
    const paused = await setScheduleEnabled(deps, users.alice, created.id, false, minutes(1));
    expect(paused).toMatchObject({ enabled: false, upcoming: [] });
    let now = minutes(40);
    const scheduler = new InlineScheduler(fire, { pollMs: 1000, now: () => now });
    expect(await scheduler.tick()).toEqual([]);
    await setScheduleEnabled(deps, users.alice, created.id, true, now);
    expect(await scheduler.tick()).toEqual([]);
    now = minutes(49.6);
    expect((await scheduler.tick()).map((o) => o.outcome)).toEqual(["started"]);
    await settle();
    expect(await firesOf(created.id)).toHaveLength(1);
    await deleteSchedule(deps, users.alice, created.id);
  });

  it.skipIf(!available)("a schedule whose owner lost access fails its fire with the reason recorded, and fires again once access is back", async () => {
    const created = await createSchedule(deps, users.bob, "greet", { name: "Bob's", kind: "interval", everyMinutes: 10, input: { who: "bob" } }, T0);
    await setShare(harness.db, users.alice, "greet", "bob@example.com", null);
    let now = minutes(9.6);
    const scheduler = new InlineScheduler(fire, { pollMs: 1000, now: () => now });
    const [failed] = await scheduler.tick();
    expect(failed).toMatchObject({ outcome: "failed", reason: expect.stringMatching(/owner can no longer see workflow "greet"/) });
    const [view] = (await listSchedules(deps, users.alice, "greet")).filter((s) => s.id === created.id);
    expect(view).toMatchObject({ lastStatus: "failed", lastError: expect.stringMatching(/no longer see/) });
    // View access only: fails too.
    await setShare(harness.db, users.alice, "greet", "bob@example.com", "view");
    now = minutes(19.6);
    expect((await scheduler.tick())[0]).toMatchObject({ outcome: "failed", reason: expect.stringMatching(/view access only/) });
    await setShare(harness.db, users.alice, "greet", "bob@example.com", "edit");
    now = minutes(29.6);
    expect((await scheduler.tick())[0]).toMatchObject({ outcome: "started" });
    await settle();
    await deleteSchedule(deps, users.alice, created.id);
  });

  it.skipIf(!available)("a schedule whose input no longer fits the workflow's input schema fails its fire, naming the field", async () => {
    const created = await createSchedule(deps, users.alice, "greet", { name: "Input", kind: "interval", everyMinutes: 10, input: { who: "x" } }, T0);
    await harness.db.schedule.update({ where: { id: created.id }, data: { input: JSON.stringify({ nobody: 1 }) } });
    const now = minutes(9.6);
    const [failed] = await new InlineScheduler(fire, { pollMs: 1000, now: () => now }).tick();
    expect(failed).toMatchObject({ outcome: "failed", reason: expect.stringMatching(/who/) });
    await deleteSchedule(deps, users.alice, created.id);
  });

  it.skipIf(!available)("bounds and scoping: fields named, input checked, 20 per workflow, view-only and strangers refused", async () => {
    const bad = (fields: unknown) => createSchedule(deps, users.alice, "greet", fields, T0);
    await expect(bad({ name: "", kind: "interval", everyMinutes: 5, input: { who: "a" } })).rejects.toThrow(/name: give the schedule a name/);
    await expect(bad({ name: "x".repeat(101), kind: "interval", everyMinutes: 5, input: { who: "a" } })).rejects.toThrow(/name: at most 100/);
    await expect(bad({ name: "n", kind: "interval", everyMinutes: 0, input: { who: "a" } })).rejects.toThrow(/everyMinutes: at least 1/);
    await expect(bad({ name: "n", kind: "interval", everyMinutes: 525_601, input: { who: "a" } })).rejects.toThrow(/everyMinutes: at most 525600/);
    await expect(bad({ name: "n", kind: "interval", input: { who: "a" } })).rejects.toThrow(/everyMinutes: give the interval/);
    await expect(bad({ name: "n", kind: "cron", cron: "0 0 * * * *", input: { who: "a" } })).rejects.toThrow(/cron: .*five fields/);
    await expect(bad({ name: "n", kind: "cron", cron: "0 9 * * *", timezone: "Mars/Base", input: { who: "a" } })).rejects.toThrow(/timezone: .*Mars\/Base.* is not a time zone/);
    await expect(bad({ name: "n", kind: "interval", everyMinutes: 5, input: { who: "a".repeat(70_000) } })).rejects.toThrow(/input: at most 64 KB/);
    await expect(bad({ name: "n", kind: "interval", everyMinutes: 5, input: {} })).rejects.toThrow(/input/);
    await expect(bad({ name: "n", kind: "interval", everyMinutes: 5, input: { who: "a" }, extra: 1 })).rejects.toThrow();
    await expect(createSchedule(deps, users.vera, "greet", { name: "n", kind: "interval", everyMinutes: 5, input: { who: "a" } })).rejects.toMatchObject({ code: "FORBIDDEN" });
    await expect(createSchedule(deps, users.stranger, "greet", { name: "n", kind: "interval", everyMinutes: 5, input: { who: "a" } })).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(listSchedules(deps, users.stranger, "greet")).rejects.toMatchObject({ code: "NOT_FOUND" });
    expect(await listSchedules(deps, users.vera, "greet")).toEqual([]);

    const made = [];
    for (let i = 0; i < MAX_SCHEDULES_PER_WORKFLOW; i++) made.push(await createSchedule(deps, users.alice, "greet", { name: `S${i}`, kind: "interval", everyMinutes: 5, input: { who: "a" } }, T0));
    await expect(bad({ name: "one more", kind: "interval", everyMinutes: 5, input: { who: "a" } })).rejects.toThrow(/the most it may have \(20\)/);
    await expect(setScheduleEnabled(deps, users.vera, made[0].id, false)).rejects.toMatchObject({ code: "FORBIDDEN" });
    await expect(deleteSchedule(deps, users.stranger, made[0].id)).rejects.toMatchObject({ code: "NOT_FOUND", message: `schedule "${made[0].id}" not found` });
    await expect(updateSchedule(deps, users.stranger, made[0].id, { name: "mine", kind: "interval", everyMinutes: 5, input: { who: "a" } })).rejects.toMatchObject({ code: "NOT_FOUND" });
    const changed = await updateSchedule(deps, users.bob, made[0].id, { name: "Weekdays", kind: "cron", cron: "0 9 * * 1-5", timezone: "Europe/Berlin", input: { who: "b" } }, T0);
    expect(changed).toMatchObject({ name: "Weekdays", description: "Every weekday at 09:00 (Europe/Berlin)", ownerId: users.alice });
    expect(changed.upcoming[0]).toEqual({ at: "2026-06-02T07:00:00.000Z", local: "Tue, 2 Jun 2026, 09:00:00 CEST" });
    for (const s of made) await deleteSchedule(deps, users.alice, s.id);
    const actions = (await harness.db.auditLog.findMany({ where: { targetType: "schedule", targetId: made[0].id }, orderBy: { createdAt: "asc" } })).map((e) => e.action);
    expect(actions).toEqual(["schedule.create", "schedule.update", "schedule.delete"]);
  });
});
