import { mkdtempSync, readdirSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestRunner, testDatabases } from "@/e2e/fixtures/databases";
import { actorById } from "@/lib/auth/access";
import { addUser, createToken, updateUser } from "@/lib/auth/users";
import { OrchestratorError } from "@/lib/engine/errors";
import { pruneCheckpoints } from "@/lib/runner/retention";
import { setSecret } from "@/lib/user-secrets";
import { enableHook, handleHookRequest } from "@/lib/webhooks/hooks";
import { validateWorkflow } from "@/lib/workflow/validate";
import { deleteWorkflow, saveWorkflowVersion, setShare } from "@/lib/workflows/repository";
import { auditDate, listAudit, MAX_AUDIT_LIMIT, type AuditRow } from "./query";
import { recordAudit } from "./record";

/**
 * The audit log below HTTP, on SQLite and Postgres with the real runner: who reads which entries (the cross-user
 * case), cursor pages that stay stable while entries are added, filters and their bounds, run origins (a webhook
 * run recorded as the workflow's owner), and that nothing deletes entries (retention, deleting workflows, runs
 * and users; no code path updates or deletes them).
 */

const definition = (id: string, steps: unknown[] = [{ id: "t", type: "transform", config: { output: "hi" } }]) =>
  validateWorkflow({ id, name: `Flow ${id}`, steps }).definition!;

const savedDataDir = process.env.ORCHESTRATOR_DATA_DIR;
beforeAll(() => {
  process.env.ORCHESTRATOR_DATA_DIR = mkdtempSync(path.join(tmpdir(), "audit-")); // its own secret key file
});
afterAll(() => {
  process.env.ORCHESTRATOR_DATA_DIR = savedDataDir;
});

async function allPages(db: Parameters<typeof listAudit>[0], userId: string, filter: Parameters<typeof listAudit>[2] = {}, limit = 7): Promise<AuditRow[]> {
  const rows: AuditRow[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 1000; i++) {
    const page = await listAudit(db, userId, { ...filter, limit, cursor });
    rows.push(...page.entries);
    if (!page.nextCursor) return rows;
    cursor = page.nextCursor;
  }
  throw new Error("more than 1000 pages");
}

describe.each(await testDatabases())("audit log on %s", (_name, makeDatabase, available) => {
  let harness: Awaited<ReturnType<typeof openTestRunner>>;
  const users = {} as Record<"alice" | "bob" | "carol" | "admin", { id: string; email: string }>;

  beforeAll(async () => {
    if (!available) return;
    harness = await openTestRunner(makeDatabase());
    const owner = await actorById(harness.db, harness.userId);
    for (const [name, role] of [["alice", "editor"], ["bob", "editor"], ["carol", "viewer"], ["admin", "admin"]] as const) {
      const email = `${name}@example.com`;
      users[name] = { id: (await addUser(harness.db, owner, { email, password: `${name}-password-1`, role })).id, email };
    }
  });
  afterAll(async () => {
    await harness?.close();
  });

  it.skipIf(!available)("scopes entries: admins all; others their own, about them, and about workflows they can see (not another user's)", async () => {
    const { db, runner } = harness;
    await saveWorkflowVersion(db, users.alice.id, definition("alice-flow"));
    const { runId } = await runner.startRun({ definition: definition("alice-flow"), ownerId: users.alice.id, workflowVersion: 1, source: "web" });
    await runner.waitForRun(runId);
    await setSecret(db, users.alice.id, "ALICE_KEY", "alice-secret-value-1");
    await createToken(db, await actorById(db, users.alice.id), users.alice.id, "alice cli");
    await saveWorkflowVersion(db, users.bob.id, definition("bob-flow"));

    const seen = async (who: keyof typeof users, filter = {}) => (await allPages(db, users[who].id, filter, 500)).map((e) => `${e.action} ${e.targetId}`);
    const alice = await seen("alice");
    expect(alice).toEqual(expect.arrayContaining(["workflow.create alice-flow", `run.start ${runId}`, "secret.create ALICE_KEY", `user.add ${users.alice.id}`]));
    expect(alice.some((e) => e.includes("bob-flow"))).toBe(false);

    // Bob sees nothing of alice's: not her workflow, run, secret or token — also not when he filters for them.
    const bob = await seen("bob");
    expect(bob).toContain("workflow.create bob-flow");
    for (const trace of ["alice-flow", runId, "ALICE_KEY", "alice cli"]) expect(bob.join("\n")).not.toContain(trace);
    expect(await seen("bob", { targetId: runId })).toEqual([]);
    expect(await seen("bob", { actor: users.alice.email })).toEqual([]);
    expect(await seen("bob", { workflowId: "alice-flow" })).toEqual([]);

    // Carol sees alice's workflow and its runs once it is shared with her (to view), not alice's secrets.
    expect((await seen("carol")).join("\n")).not.toContain("alice-flow");
    await setShare(db, users.alice.id, "alice-flow", users.carol.email, "view");
    const carol = await seen("carol");
    expect(carol).toEqual(expect.arrayContaining(["workflow.create alice-flow", `run.start ${runId}`, "workflow.share alice-flow"]));
    expect(carol.join("\n")).not.toContain("ALICE_KEY");
    expect(carol.join("\n")).not.toContain("bob-flow");

    // The admin sees everything.
    const admin = await seen("admin");
    expect(admin).toEqual(expect.arrayContaining(["workflow.create alice-flow", "workflow.create bob-flow", "secret.create ALICE_KEY"]));

    // A secret's value is never recorded.
    const raw = await db.auditLog.findMany({ where: { targetType: "secret" } });
    expect(raw.length).toBeGreaterThan(0);
    expect(JSON.stringify(raw)).not.toContain("alice-secret-value-1");
  });

  it.skipIf(!available)("pages newest first on (createdAt, id): no entry twice or missed while entries are added, ties broken by id", async () => {
    const { db } = harness;
    const { id: userId } = users.admin;
    const tied = new Date(Date.now() - 3_600_000);
    // Same time for many entries (a cursor on time alone would skip or repeat them).
    await db.auditLog.createMany({
      data: Array.from({ length: 30 }, (_, i) => ({ actorId: userId, action: "test.tie", targetType: "test", targetId: `tie-${String(i).padStart(2, "0")}`, createdAt: tied })),
    });
    const expected = (await db.auditLog.findMany({ where: { action: "test.tie" }, orderBy: [{ createdAt: "desc" }, { id: "desc" }] })).map((r) => r.id);
    const seen: string[] = [];
    let cursor: string | undefined;
    for (;;) {
      const page = await listAudit(db, userId, { action: "test.tie", limit: 4, cursor });
      seen.push(...page.entries.map((e) => e.id));
      // New entries while paging land before the first page, not in the pages still to come.
      await recordAudit(db, { actorId: userId, action: "test.tie", targetType: "test", targetId: "added-later", summary: "later" });
      if (!page.nextCursor) break;
      cursor = page.nextCursor;
    }
    expect(seen).toEqual(expected);
    expect(new Set(seen).size).toBe(30);
    // Newest first overall.
    const all = await listAudit(db, userId, { limit: MAX_AUDIT_LIMIT });
    const times = all.entries.map((e) => e.at.getTime());
    expect([...times].sort((a, b) => b - a)).toEqual(times);
  });

  it.skipIf(!available)("filters by actor (email or id), action or group, target, workflow and date range; refuses bad filters naming them", async () => {
    const { db } = harness;
    const admin = users.admin.id;
    expect((await listAudit(db, admin, { actor: users.alice.email, limit: 500 })).entries.every((e) => e.actorId === users.alice.id)).toBe(true);
    expect((await listAudit(db, admin, { actor: users.alice.id, limit: 500 })).entries.length).toBeGreaterThan(0);
    expect((await listAudit(db, admin, { action: "workflow", limit: 500 })).entries.every((e) => e.action.startsWith("workflow."))).toBe(true);
    expect((await listAudit(db, admin, { action: "workflow.share" })).entries.map((e) => e.targetId)).toEqual(["alice-flow"]);
    expect((await listAudit(db, admin, { workflowId: "alice-flow", limit: 500 })).entries.map((e) => e.action)).toEqual(
      expect.arrayContaining(["workflow.create", "run.start", "workflow.share"]),
    );
    expect((await listAudit(db, admin, { targetType: "secret" })).entries.map((e) => e.targetId)).toEqual(["ALICE_KEY"]);
    const future = auditDate("2999-01-01", "from");
    expect((await listAudit(db, admin, { from: future })).entries).toEqual([]);
    const today = new Date().toISOString().slice(0, 10);
    const todays = await listAudit(db, admin, { from: auditDate(today, "from"), to: auditDate(today, "to", true), action: "workflow.create" });
    expect(todays.entries.length).toBeGreaterThan(0);
    expect((await listAudit(db, admin, { to: auditDate("2000-01-01", "to", true) })).entries).toEqual([]);

    const refused = async (filter: Parameters<typeof listAudit>[2], field: string) => {
      const error = await listAudit(db, admin, filter).catch((err: unknown) => err);
      expect(error).toBeInstanceOf(OrchestratorError);
      expect((error as OrchestratorError).code).toBe("INVALID_INPUT");
      expect((error as Error).message).toContain(field);
    };
    await refused({ limit: 0 }, "limit");
    await refused({ limit: MAX_AUDIT_LIMIT + 1 }, "limit");
    await refused({ limit: 1.5 }, "limit");
    await refused({ actor: "x".repeat(201) }, "actor");
    await refused({ action: "y".repeat(10_000) }, "action");
    await refused({ cursor: "not-a-cursor" }, "cursor");
    await refused({ cursor: "z".repeat(100_000) }, "cursor");
    expect(() => auditDate("yesterday", "from")).toThrow(/from: a date like/);
  });

  it.skipIf(!available)("records each run's origin; a webhook's run is the workflow owner's, saying so", async () => {
    const { db, sql, runner } = harness;
    await saveWorkflowVersion(db, users.alice.id, definition("origins"));
    const origins: Record<string, string> = {};
    for (const source of ["web", "cli", "api"] as const) {
      const { runId } = await runner.startRun({ definition: definition("origins"), ownerId: users.alice.id, workflowVersion: 1, source });
      await runner.waitForRun(runId);
      origins[runId] = source === "web" ? "ui" : source;
    }
    const { token } = await enableHook(db, users.alice.id, "origins");
    const hooked = await handleHookRequest({ db, sql, runner }, { workflowId: "origins", token, rawBody: "{}" });
    expect(hooked.status).toBe(202);
    const hookRunId = (hooked.body as { runId: string }).runId;
    origins[hookRunId] = "webhook";
    await runner.waitForRun(hookRunId);

    for (const [runId, origin] of Object.entries(origins)) {
      const rows = await db.auditLog.findMany({ where: { targetType: "run", targetId: runId } });
      expect(rows.map((r) => r.action)).toEqual(["run.start"]);
      expect(JSON.parse(rows[0].data!)).toMatchObject({ origin, workflowId: "origins", workflowVersion: 1 });
      expect(rows[0].actorId).toBe(users.alice.id);
      expect(rows[0].workflowId).toBe("origins");
    }
    const hookEntry = await db.auditLog.findFirstOrThrow({ where: { targetId: hookRunId } });
    expect(hookEntry.summary).toMatch(/webhook.*no signed-in user.*owner/);
    const enable = await db.auditLog.findMany({ where: { targetType: "webhook", targetId: "origins" } });
    expect(enable.map((r) => r.action)).toEqual(["webhook.enable"]);
    expect(JSON.stringify(enable)).not.toContain(token);
  });

  it.skipIf(!available)("retention, deleting runs, workflows and users leave the entries about them", async () => {
    const { db, runner, checkpointer } = harness;
    const owner = await actorById(db, harness.userId);
    const dave = await addUser(db, owner, { email: "dave@example.com", password: "dave-password-1", role: "editor" });
    await saveWorkflowVersion(db, dave.id, definition("doomed", [
      { id: "a", type: "transform", config: { output: 1 } },
      { id: "b", type: "transform", config: { output: 2 } },
    ]));
    const { runId } = await runner.startRun({ definition: definition("doomed"), ownerId: dave.id, workflowVersion: 1, source: "cli" });
    await runner.waitForRun(runId);
    const entriesAbout = () => db.auditLog.count({ where: { OR: [{ workflowId: "doomed" }, { targetId: runId }, { targetId: dave.id }, { actorId: dave.id }] } });
    const before = await entriesAbout();
    expect(before).toBeGreaterThanOrEqual(3); // user.add, workflow.create, run.start

    await db.run.update({ where: { id: runId }, data: { finishedAt: new Date(Date.now() - 10 * 86_400_000) } });
    await pruneCheckpoints(db, checkpointer, 1);
    await deleteWorkflow(db, dave.id, "doomed");
    await updateUser(db, owner, dave.id, { remove: true }); // deletes dave's runs with him
    expect(await db.run.count({ where: { id: runId } })).toBe(0);
    // Every entry is still there, plus the deletions themselves.
    expect(await entriesAbout()).toBe(before + 2);
    const admin = users.admin.id;
    expect((await listAudit(db, admin, { targetId: runId })).entries.map((e) => e.action)).toEqual(["run.start"]);
    expect((await listAudit(db, admin, { workflowId: "doomed", limit: 500 })).entries.map((e) => e.action)).toEqual(["workflow.delete", "run.start", "workflow.create"]);
    // The actor is shown by id once the user is gone.
    expect((await listAudit(db, admin, { targetId: runId })).entries[0]).toMatchObject({ actorId: dave.id, actorEmail: null });
  });

  it.skipIf(!available)("the AuditLog table has no foreign keys (no cascade can delete entries)", async () => {
    const { sql } = harness;
    const keys =
      sql.dialect === "sqlite"
        ? await sql.query(`SELECT * FROM pragma_foreign_key_list('AuditLog')`)
        : await sql.query(`SELECT conname FROM pg_constraint WHERE conrelid = '"AuditLog"'::regclass AND contype = 'f'`);
    expect(keys).toEqual([]);
  });
});

describe("no code path edits or deletes audit entries", () => {
  /** Every source file of the app (not tests, not generated code). */
  function sources(dir: string, out: string[] = []): string[] {
    for (const name of readdirSync(dir)) {
      const file = path.join(dir, name);
      if (["node_modules", "generated", ".next", "dist"].includes(name)) continue;
      if (statSync(file).isDirectory()) sources(file, out);
      else if (/\.(ts|tsx|mjs)$/.test(name) && !/\.test\.ts$/.test(name)) out.push(file);
    }
    return out;
  }

  it("no update, upsert or delete of AuditLog rows in app/, lib/, cli/, scripts/ or server.ts", () => {
    const files = [...["app", "lib", "cli", "scripts"].flatMap((dir) => sources(path.resolve(dir))), path.resolve("server.ts")];
    expect(files.length).toBeGreaterThan(100); // the walk found the sources
    const offenders = files.filter((file) => {
      const text = readFileSync(file, "utf8");
      return /auditLog\s*\.\s*(update|updateMany|upsert|delete|deleteMany)\b/.test(text) || /(UPDATE|DELETE\s+FROM)\s+"?AuditLog"?/i.test(text);
    });
    expect(offenders).toEqual([]);
  });
});
