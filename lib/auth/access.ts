import type { Prisma } from "@/lib/db/generated/sqlite/client";
import type { Db } from "@/lib/db";
import { OrchestratorError } from "@/lib/engine/errors";
import { atLeast, capAccess, isRole, seesEverything, type Access, type Actor } from "./roles";

/**
 * The repository layer's scoping: every query of workflows, versions, runs, checkpoints and hooks made for a
 * user goes through these, so what a user can reach is decided here and nowhere else. Objects a user may not
 * see are NOT_FOUND (their existence is not revealed); objects it sees but may not change are FORBIDDEN.
 */

/** The user behind an id (session, token or CLI), with its current role. */
export async function actorById(db: Db, userId: string): Promise<Actor> {
  const user = await db.user.findUnique({ where: { id: userId }, select: { id: true, role: true, email: true, name: true } });
  if (!user || !isRole(user.role)) throw new OrchestratorError("UNAUTHORIZED", "unknown user: sign in again");
  return { ...user, role: user.role };
}

/** Workflows the actor can see. */
export function workflowsVisibleTo(actor: Actor): Prisma.WorkflowWhereInput {
  if (seesEverything(actor.role)) return {};
  return { OR: [{ ownerId: actor.id }, { shares: { some: { userId: actor.id } } }] };
}

/** The actor's access to a workflow, or null when it cannot see it (or it does not exist). */
export async function workflowAccess(db: Db, actor: Actor, workflowId: string): Promise<Access | null> {
  const workflow = await db.workflow.findUnique({
    where: { id: workflowId },
    select: { ownerId: true, shares: { where: { userId: actor.id }, select: { permission: true } } },
  });
  if (!workflow) return null;
  if (seesEverything(actor.role)) return "edit";
  if (workflow.ownerId === actor.id) return capAccess(actor.role, "edit");
  const share = workflow.shares[0];
  return share ? capAccess(actor.role, share.permission === "edit" ? "edit" : "view") : null;
}

/** Throws NOT_FOUND when the actor cannot see the workflow, FORBIDDEN when it needs `edit` and has `view`. */
export async function requireWorkflowAccess(db: Db, actor: Actor, workflowId: string, need: Access): Promise<Access> {
  const access = await workflowAccess(db, actor, workflowId);
  if (!access) throw new OrchestratorError("NOT_FOUND", `workflow "${workflowId}" not found`);
  if (need === "edit" && access !== "edit")
    throw new OrchestratorError("FORBIDDEN", `you can view workflow "${workflowId}" but not change or run it: ask its owner for edit access`);
  return access;
}

/**
 * Whether the user may follow a workflow id's runs: a saved workflow it can see, or an id no saved workflow has
 * (definitions run unsaved from the TS API), where it then sees only its own runs (`activeRunId`).
 */
export async function canWatchWorkflow(db: Db, userId: string, workflowId: string): Promise<boolean> {
  const actor = await actorById(db, userId);
  if (await workflowAccess(db, actor, workflowId)) return true;
  return !(await db.workflow.findUnique({ where: { id: workflowId }, select: { id: true } }));
}

/** At most this many shared workflows widen a user's run list (beyond it, only its own runs and workflows). */
const MAX_SHARED_IN_RUN_SCOPE = 10_000;

/** Runs the actor can see: its own, and those of workflows it can see. */
export async function runsVisibleTo(db: Db, actor: Actor): Promise<Prisma.RunWhereInput> {
  if (seesEverything(actor.role)) return {};
  const workflows = await db.workflow.findMany({
    where: workflowsVisibleTo(actor),
    select: { id: true },
    take: MAX_SHARED_IN_RUN_SCOPE,
  });
  return { OR: [{ ownerId: actor.id }, { workflowId: { in: workflows.map((w) => w.id) } }] };
}

/**
 * Audit entries the actor may read: admins all; others the changes they made, the entries about them (their user,
 * tokens, secrets, runs: `subjectId`) and those about workflows they can see, with their runs (`workflowId`).
 */
export async function auditEntriesVisibleTo(db: Db, actor: Actor): Promise<Prisma.AuditLogWhereInput> {
  if (seesEverything(actor.role)) return {};
  const workflows = await db.workflow.findMany({ where: workflowsVisibleTo(actor), select: { id: true }, take: MAX_SHARED_IN_RUN_SCOPE });
  return { OR: [{ actorId: actor.id }, { subjectId: actor.id }, { workflowId: { in: workflows.map((w) => w.id) } }] };
}

/**
 * `runsVisibleTo` as SQL on the run row `r` (the history's raw query): its own runs, and those of workflows it owns
 * or that are shared with it — a subquery, so the condition stays one statement whatever the number of shares.
 * Null: the actor sees every run. On SQLite the columns are written `+col`, which keeps the planner from driving
 * the query by the owner and workflow indexes (a union of all the user's runs, then a sort of them: 0.4 s at
 * 100,000 runs); it walks the sort order's index instead, which carries owner and workflow to check them.
 */
export function runsVisibleToSql(actor: Actor, r: string, dialect: "sqlite" | "postgres"): { sql: string; params: unknown[] } | null {
  if (seesEverything(actor.role)) return null;
  const column = (name: string) => `${dialect === "sqlite" ? "+" : ""}${r}."${name}"`;
  return {
    sql: `(${column("ownerId")} = ? OR ${column("workflowId")} IN (SELECT "id" FROM "Workflow" WHERE "ownerId" = ? UNION SELECT "workflowId" FROM "WorkflowShare" WHERE "userId" = ?))`,
    params: [actor.id, actor.id, actor.id],
  };
}

/**
 * A run the actor may read (`view`) or act on (`control`: cancel, resume, approve, fork), else NOT_FOUND /
 * FORBIDDEN. Controlling takes the editor role and either the run being the actor's own or edit access to its
 * workflow.
 */
export async function requireRunAccess<T extends { ownerId: string; workflowId: string }>(
  db: Db,
  actor: Actor,
  run: T | null,
  runId: string,
  need: "view" | "control",
): Promise<T> {
  if (!run) throw new OrchestratorError("NOT_FOUND", `run "${runId}" not found`);
  const own = run.ownerId === actor.id;
  const access = seesEverything(actor.role) ? "edit" : own ? capAccess(actor.role, "edit") : await workflowAccess(db, actor, run.workflowId);
  if (!access) throw new OrchestratorError("NOT_FOUND", `run "${runId}" not found`);
  if (need === "control" && (access !== "edit" || !atLeast(actor.role, "editor")))
    throw new OrchestratorError("FORBIDDEN", `you can view run "${runId}" but not act on it: it takes edit access to its workflow`);
  return run;
}

/** Throws FORBIDDEN unless the actor's role is at least `min`. */
export function requireRole(actor: Actor, min: Parameters<typeof atLeast>[1], what: string): void {
  if (!atLeast(actor.role, min)) throw new OrchestratorError("FORBIDDEN", `${what} takes the ${min} role or higher (you are ${actor.role})`);
}
