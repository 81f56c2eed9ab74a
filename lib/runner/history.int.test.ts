import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestRunner, testDatabases } from "@/e2e/fixtures/databases";
import { actorById } from "@/lib/auth/access";
import { addUser } from "@/lib/auth/users";
import { saveWorkflowVersion, setShare } from "@/lib/workflows/repository";
import type { WorkflowDefinition } from "@/lib/workflow/schema";
import { cancelRuns, deleteRuns, MAX_BULK_RUNS, resumeRuns, runAgain } from "./history-actions";
import { listRuns, type RunListItem } from "./queries";
import { parseRunListQuery, type RunListFilter } from "./run-filter";

/** The history on the real runner and database: filters, search, pages, scoping, bulk actions and what deleting removes. */

const databases = await testDatabases();

const echo = (id: string, extra: WorkflowDefinition["steps"] = []): WorkflowDefinition => ({
  id,
  name: `Echo ${id}`,
  steps: [{ id: "say", type: "transform", config: { output: { said: "{{ input.text }}" } } }, ...extra],
  ...(extra.length ? { edges: extra.map((s) => ({ from: "say", to: s.id })) } : {}),
});
const failing = (id: string): WorkflowDefinition => ({
  id,
  name: `Failing ${id}`,
  steps: [{ id: "boom", type: "transform", config: { output: "{{ $error('Kaput ' & input.text) }}" } }],
});
const waiting = (id: string): WorkflowDefinition => ({ id, name: `Waiting ${id}`, steps: [{ id: "ok", type: "approval", config: { message: "ok?" } }] });

describe.each(databases)("run history on %s", (_name, makeDatabase, available) => {
  let harness: Awaited<ReturnType<typeof openTestRunner>>;
  const users: Record<"alice" | "bob" | "carol", string> = { alice: "", bob: "", carol: "" };

  const run = async (definition: WorkflowDefinition, ownerId: string, text: string, source: "web" | "cli" | "api" | "webhook" = "web") => {
    const { runId } = await harness.runner.startRun({ definition, input: { text }, ownerId, source });
    await harness.runner.waitForRun(runId);
    return runId;
  };
  const list = async (userId: string, filter: RunListFilter = {}) => (await listRuns(harness, userId, { limit: 500, ...filter })).runs;
  const ids = (runs: RunListItem[]) => runs.map((r) => r.runId);
  /** Every page of a listing, following the cursor. */
  const allPages = async (userId: string, filter: RunListFilter) => {
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let pages = 0; pages < 100; pages++) {
      const page = await listRuns(harness, userId, { ...filter, cursor });
      seen.push(...ids(page.runs));
      if (!page.nextCursor) return seen;
      cursor = page.nextCursor;
    }
    throw new Error("pages did not end");
  };

  beforeAll(async () => {
    if (!available) return;
    harness = await openTestRunner(makeDatabase());
    const owner = await actorById(harness.db, harness.userId);
    for (const name of ["alice", "bob", "carol"] as const)
      users[name] = (await addUser(harness.db, owner, { email: `${name}@example.com`, password: `${name}-password-1`, role: "editor" })).id;
    for (const [who, definition] of [
      ["alice", echo("alice-echo")],
      ["alice", failing("alice-fail")],
      ["alice", waiting("alice-wait")],
      ["bob", echo("bob-echo")],
    ] as const)
      await saveWorkflowVersion(harness.db, users[who], definition);
    await setShare(harness.db, users.alice, "alice-echo", "carol@example.com", "view");
  });

  afterAll(async () => {
    if (available) await harness.close();
  });

  it.runIf(available)("stores what started each run, its duration, and counts resumes by hand", async () => {
    const ui = await run(echo("alice-echo"), users.alice, "from the editor", "web");
    const cli = await run(echo("alice-echo"), users.alice, "from the cli", "cli");
    const api = await run(echo("alice-echo"), users.alice, "from the api", "api");
    const hook = await run(echo("alice-echo"), users.alice, "from a hook", "webhook");
    const failed = await run(failing("alice-fail"), users.alice, "first", "web");
    const rows = await list(users.alice);
    const byId = new Map(rows.map((r) => [r.runId, r]));
    expect([ui, cli, api, hook].map((id) => byId.get(id)!.trigger)).toEqual(["ui", "cli", "api", "webhook"]);
    for (const id of [ui, cli, failed]) {
      const row = byId.get(id)!;
      expect(row.durationMs).toBeGreaterThanOrEqual(0);
      expect(row.durationMs).toBe(row.finishedAt!.getTime() - row.startedAt!.getTime());
    }
    expect(byId.get(failed)!.resumeCount).toBe(0);

    const [, earliest] = [...(await harness.runner.listCheckpoints(ui, users.alice))].reverse();
    const fork = await harness.runner.forkRun(ui, users.alice, { checkpointId: earliest.checkpointId });
    await harness.runner.waitForRun(fork.runId);
    expect(ids(await list(users.alice, { trigger: "fork" }))).toEqual([fork.runId]);

    await harness.runner.resumeRun(failed, users.alice);
    await harness.runner.waitForRun(failed);
    const resumed = (await list(users.alice, { trigger: "resume" })).map((r) => [r.runId, r.resumeCount, r.trigger, r.resumed]);
    expect(resumed).toEqual([[failed, 1, "ui", true]]);
    expect((await list(users.alice, { trigger: "resume" }))[0].resumedAt).toBeInstanceOf(Date);
    expect(ids(await list(users.alice, { trigger: "cli" }))).toEqual([cli]);
  });

  it.runIf(available)("filters by status, workflow, dates, duration and cost, and sorts by each", async () => {
    const { db } = harness;
    const slow = await run(echo("alice-echo"), users.alice, "slow one");
    const cheap = await run(echo("alice-echo"), users.alice, "cheap one");
    await db.run.update({ where: { id: slow }, data: { durationMs: 90_000, costUsd: 0.5, createdAt: new Date("2020-01-02T10:00:00Z") } });
    await db.run.update({ where: { id: cheap }, data: { durationMs: 5, costUsd: 0.001, createdAt: new Date("2020-01-03T10:00:00Z") } });

    const failedOnes = await list(users.alice, { status: "failed" });
    expect(failedOnes.length).toBeGreaterThan(0);
    expect(failedOnes.every((r) => r.status === "failed")).toBe(true);
    expect(new Set((await list(users.alice, { workflowId: "alice-fail" })).map((r) => r.workflowId))).toEqual(new Set(["alice-fail"]));
    expect(ids(await list(users.alice, { until: new Date("2020-12-31T00:00:00Z") }))).toEqual([cheap, slow]);
    expect(ids(await list(users.alice, { since: new Date("2020-01-03T00:00:00Z"), until: new Date("2020-01-03T23:59:59Z") }))).toEqual([cheap]);
    expect(ids(await list(users.alice, { minDurationMs: 60_000 }))).toEqual([slow]);
    expect(ids(await list(users.alice, { maxCost: 0.01, minCost: 0.0001 }))).toEqual([cheap]);
    expect(ids(await list(users.alice, { sort: "cost", order: "desc" })).slice(0, 2)).toEqual([slow, cheap]);
    expect(ids(await list(users.alice, { sort: "duration", order: "desc" }))[0]).toBe(slow);
    expect(ids(await list(users.alice, { sort: "created", order: "asc" })).slice(0, 2)).toEqual([slow, cheap]);
  });

  it.runIf(available)("searches inputs, outputs and errors, in any case, only among the runs the user can see", async () => {
    const mine = await run(echo("alice-echo"), users.alice, "Zebra crossing at noon");
    const failed = await run(failing("alice-fail"), users.alice, "wombat");
    const bobs = await run(echo("bob-echo"), users.bob, "zebra crossing for bob");
    expect(ids(await list(users.alice, { search: "ZEBRA CROSSING" }))).toEqual([mine]);
    expect(ids(await list(users.alice, { search: "Kaput wombat" }))).toEqual([failed]); // the error message
    expect(ids(await list(users.bob, { search: "zebra crossing" }))).toEqual([bobs]);
    expect(ids(await list(harness.userId, { search: "zebra crossing" })).sort()).toEqual([mine, bobs].sort()); // the owner sees all
    // LIKE wildcards and FTS syntax are text here.
    expect(await list(users.alice, { search: '100% "zebra" OR _' })).toEqual([]);
    expect(ids(await list(users.alice, { search: "zebra", status: "failed" }))).toEqual([]);
    await expect(list(users.alice, { search: "ze" })).rejects.toMatchObject({ code: "INVALID_INPUT", message: expect.stringContaining("search: enter at least 3 characters") });
    await expect(list(users.alice, { search: "z".repeat(201) })).rejects.toMatchObject({ code: "INVALID_INPUT", message: expect.stringContaining("at most 200") });
  });

  it.runIf(available)("pages by cursor without gaps or repeats, also on equal sort values and runs without a value", async () => {
    const { db } = harness;
    const made: string[] = [];
    for (let i = 0; i < 7; i++) made.push(await run(echo("alice-echo"), users.alice, `page ${i}`));
    // Equal timestamps and equal durations: the id decides.
    await db.run.updateMany({ where: { id: { in: made } }, data: { createdAt: new Date("2021-06-01T00:00:00Z"), durationMs: 42 } });
    await db.run.updateMany({ where: { id: { in: made.slice(0, 2) } }, data: { durationMs: null } });
    const filter: RunListFilter = { since: new Date("2021-06-01T00:00:00Z"), until: new Date("2021-06-01T00:00:00Z"), limit: 3 };
    expect(await allPages(users.alice, filter)).toEqual([...made].sort().reverse());
    expect(await allPages(users.alice, { ...filter, order: "asc" })).toEqual([...made].sort());
    const byDuration = await allPages(users.alice, { ...filter, sort: "duration", limit: 2 });
    expect(byDuration).toHaveLength(7);
    expect(new Set(byDuration)).toEqual(new Set(made));
    expect(byDuration.slice(5).sort()).toEqual(made.slice(0, 2).sort()); // runs without a duration come last
    expect(await allPages(users.alice, { ...filter, sort: "duration", order: "asc", limit: 4 })).toHaveLength(7);

    const first = await listRuns(harness, users.alice, filter);
    await expect(listRuns(harness, users.alice, { ...filter, sort: "cost", cursor: first.nextCursor! })).rejects.toMatchObject({ code: "INVALID_INPUT", message: expect.stringContaining("another sort order") });
    await expect(listRuns(harness, users.alice, { ...filter, cursor: "not-a-cursor" })).rejects.toMatchObject({ code: "INVALID_INPUT", message: expect.stringContaining("cursor:") });
  });

  it.runIf(available)("parses the URL's filter fields and names the field it refuses", () => {
    expect(parseRunListQuery({ status: "failed", trigger: "resume", since: "2026-12-01", limit: "10", search: "", minCost: "0.5" })).toEqual({
      status: "failed",
      trigger: "resume",
      since: new Date("2026-12-01T00:00:00Z"),
      limit: 10,
      minCost: 0.5,
    });
    for (const [query, message] of [
      [{ status: "bogus" }, "status: one of"],
      [{ trigger: "cron" }, "trigger: one of"],
      [{ since: "yesterday" }, "since: a date"],
      [{ since: "2026-12-02", until: "2026-12-01" }, "until: must not be before since"],
      [{ limit: "501" }, "limit: at most 500"],
      [{ limit: "-1" }, "limit: a whole number"],
      [{ minDurationMs: "1.5" }, "minDurationMs: a whole number"],
      [{ cursor: "x".repeat(600) }, "cursor: at most"],
      [{ mystery: "1" }, 'unknown filter "mystery"'],
    ] as const)
      expect(() => parseRunListQuery(query), JSON.stringify(query)).toThrow(message);
  });

  it.runIf(available)("scopes the list: own runs and shared workflows' runs, never another user's", async () => {
    const alices = await run(echo("alice-echo"), users.alice, "shared with carol");
    const alicesUnshared = await run(failing("alice-fail"), users.alice, "not shared");
    const bobs = await run(echo("bob-echo"), users.bob, "bob's own");
    const carolSees = ids(await list(users.carol));
    expect(carolSees).toContain(alices);
    expect(carolSees).not.toContain(alicesUnshared);
    expect(carolSees).not.toContain(bobs);
    expect(new Set((await list(users.carol)).map((r) => r.workflowId))).toEqual(new Set(["alice-echo"]));
    expect(ids(await list(users.bob))).not.toContain(alices);
    expect(ids(await list(users.bob, { workflowId: "alice-echo" }))).toEqual([]);
    expect(ids(await list(users.carol, { search: "not shared" }))).toEqual([]);
    const everyone = ids(await list(harness.userId));
    expect(everyone).toEqual(expect.arrayContaining([alices, alicesUnshared, bobs]));
  });

  it.runIf(available)("deletes ended runs with their steps, events, checkpoints and search entry; keeps audit entries; skips active runs", async () => {
    const { db, sql } = harness;
    const mapped = await run(echo("alice-echo", [{ id: "each", type: "map", config: { items: "{{ [1, 2] }}", steps: [{ id: "double", type: "transform", config: { output: "{{ item * 2 }}" } }] } }]), users.alice, "to be deleted quokka");
    const kept = await run(echo("alice-echo"), users.alice, "kept quokka");
    const { runId: waitingRun } = await harness.runner.startRun({ definition: waiting("alice-wait"), ownerId: users.alice, source: "web" });
    await harness.runner.waitForRun(waitingRun);
    const threads = async (runId: string) =>
      (await db.checkpoint.findMany({ where: { OR: [{ threadId: runId }, { threadId: { startsWith: `${runId}:` } }] }, select: { threadId: true } })).map((c) => c.threadId);
    expect((await threads(mapped)).some((t) => t.startsWith(`${mapped}:map:`))).toBe(true);
    expect(await db.stepRun.count({ where: { runId: mapped } })).toBeGreaterThan(0);
    expect(await db.runEvent.count({ where: { runId: mapped } })).toBeGreaterThan(0);
    await db.auditLog.create({ data: { actorId: users.alice, action: "run.resume", targetType: "run", targetId: mapped } });

    // Nothing changes for a user who cannot see a run, or may only view it.
    await expect(deleteRuns(harness, users.bob, [mapped])).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(deleteRuns(harness, users.carol, [kept])).rejects.toMatchObject({ code: "FORBIDDEN" });
    await expect(deleteRuns(harness, users.alice, [mapped, "run_nobody"])).rejects.toMatchObject({ code: "NOT_FOUND", message: expect.stringContaining("run_nobody") });
    expect(await db.run.count({ where: { id: mapped } })).toBe(1);

    const outcome = await deleteRuns(harness, users.alice, [mapped, waitingRun]);
    expect(outcome.done).toEqual([mapped]);
    expect(outcome.skipped).toEqual([{ runId: waitingRun, code: "CONFLICT", message: expect.stringContaining("cancel it first") }]);
    expect(await db.run.count({ where: { id: mapped } })).toBe(0);
    expect(await db.stepRun.count({ where: { runId: mapped } })).toBe(0);
    expect(await db.runEvent.count({ where: { runId: mapped } })).toBe(0);
    expect(await db.streamChunk.count({ where: { runId: mapped } })).toBe(0);
    expect(await threads(mapped)).toEqual([]);
    expect(await db.checkpointWrite.count({ where: { threadId: { startsWith: mapped } } })).toBe(0);
    expect(await db.checkpointBlob.count({ where: { threadId: { startsWith: mapped } } })).toBe(0);
    expect((await threads(kept)).length).toBeGreaterThan(0);
    expect(ids(await list(users.alice, { search: "quokka" }))).toEqual([kept]);
    if (sql.dialect === "sqlite") expect(await sql.query(`SELECT 1 FROM "RunSearchDoc" WHERE "runId" = ?`, [mapped])).toEqual([]);
    const audit = await db.auditLog.findMany({ where: { targetId: mapped }, orderBy: { createdAt: "asc" } });
    expect(audit.map((a) => a.action)).toEqual(["run.start", "run.resume", "run.delete"]);
    expect(JSON.parse(audit[2].data!)).toMatchObject({ workflowId: "alice-echo" });
    expect(audit[2].summary).toContain(mapped);

    await expect(deleteRuns(harness, users.alice, [])).rejects.toMatchObject({ code: "INVALID_INPUT" });
    await expect(deleteRuns(harness, users.alice, Array.from({ length: MAX_BULK_RUNS + 1 }, (_, i) => `run_${i}`))).rejects.toMatchObject({
      code: "INVALID_INPUT",
      message: expect.stringContaining(`at most ${MAX_BULK_RUNS}`),
    });
  });

  it.runIf(available)("cancels and resumes the selected runs, skipping the ones the action does not apply to", async () => {
    const { db } = harness;
    const { runId: waitingRun } = await harness.runner.startRun({ definition: waiting("alice-wait"), ownerId: users.alice, source: "web" });
    await harness.runner.waitForRun(waitingRun);
    const done = await run(echo("alice-echo"), users.alice, "done already");
    const cancelled = await cancelRuns(harness, users.alice, [waitingRun, done]);
    expect(cancelled.done).toEqual([waitingRun]);
    expect(cancelled.skipped).toEqual([{ runId: done, code: "CONFLICT", message: expect.stringContaining("succeeded") }]);
    expect((await db.run.findUniqueOrThrow({ where: { id: waitingRun } })).status).toBe("cancelled");
    expect(await db.auditLog.count({ where: { targetId: waitingRun, action: "run.cancel" } })).toBe(1);

    const failed = await run(failing("alice-fail"), users.alice, "again");
    await expect(resumeRuns(harness, users.carol, [failed])).rejects.toMatchObject({ code: "NOT_FOUND" });
    const resumed = await resumeRuns(harness, users.alice, [failed, done]);
    expect(resumed.done).toEqual([failed]);
    expect(resumed.skipped.map((s) => s.runId)).toEqual([done]);
    await harness.runner.waitForRun(failed);
    expect((await db.run.findUniqueOrThrow({ where: { id: failed } })).resumeCount).toBe(1);
    expect(await db.auditLog.count({ where: { targetId: failed, action: "run.resume" } })).toBe(1);
  });

  it.runIf(available)("runs a run again with the same input, on its version or the latest", async () => {
    const { db } = harness;
    const { runId: first } = await harness.runner.startRun({ definition: echo("alice-echo"), input: { text: "again please" }, ownerId: users.alice, workflowVersion: 1, source: "api" });
    await harness.runner.waitForRun(first);
    const again = await runAgain(harness, users.alice, first);
    await harness.runner.waitForRun(again.runId);
    const row = await db.run.findUniqueOrThrow({ where: { id: again.runId } });
    expect([row.trigger, row.input, row.status, row.workflowVersion]).toEqual(["ui", JSON.stringify({ text: "again please" }), "succeeded", 1]);
    const entries = await db.auditLog.findMany({ where: { targetId: again.runId } });
    expect(entries.map((e) => e.action)).toEqual(["run.start"]);
    expect(JSON.parse(entries[0].data!)).toMatchObject({ origin: "ui", rerunOf: first });

    const v2 = echo("alice-echo");
    v2.steps[0].config = { output: { said: "{{ $uppercase(input.text) }}" } };
    await saveWorkflowVersion(db, users.alice, v2);
    const latest = await runAgain(harness, users.alice, first, { useLatestVersion: true });
    const result = await harness.runner.waitForRun(latest.runId);
    expect(result.outputs.say).toEqual({ said: "AGAIN PLEASE" });
    expect((await db.run.findUniqueOrThrow({ where: { id: latest.runId } })).workflowVersion).toBe(2);
    await expect(runAgain(harness, users.carol, first)).rejects.toMatchObject({ code: "FORBIDDEN" });
    await expect(runAgain(harness, users.bob, first)).rejects.toMatchObject({ code: "NOT_FOUND" });
  });
});
