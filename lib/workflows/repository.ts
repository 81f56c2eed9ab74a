import { randomBytes } from "node:crypto";
import { actorById, requireRole, requireWorkflowAccess, workflowAccess, workflowsVisibleTo } from "@/lib/auth/access";
import { named, recordAudit } from "@/lib/audit/record";
import type { Access } from "@/lib/auth/roles";
import type { Db } from "@/lib/db";
import { OrchestratorError } from "@/lib/engine/errors";
import { StoredDefinitionSchema, type WorkflowDefinition } from "@/lib/workflow/schema";

/** Saved workflows and their versions. Every query is scoped to what the user may see (lib/auth/access.ts). */

export function newWorkflowId(): string {
  return `wf_${randomBytes(6).toString("hex")}`;
}

/**
 * Creates the workflow (editor role) or appends a new version (edit access); returns the version number. A new
 * workflow belongs to the user saving it.
 */
export async function saveWorkflowVersion(db: Db, userId: string, definition: WorkflowDefinition, options: { restoredFrom?: number } = {}) {
  const actor = await actorById(db, userId);
  requireRole(actor, "editor", "saving workflows");
  const ownerId = actor.id;
  return db.$transaction(async (tx) => {
    const existing = await tx.workflow.findUnique({ where: { id: definition.id } });
    const access = existing ? await workflowAccess(db, actor, definition.id) : null;
    if (existing && access === "view")
      throw new OrchestratorError("FORBIDDEN", `you can view workflow "${definition.id}" but not change it: ask its owner for edit access`);
    if (existing && access !== "edit") throw new OrchestratorError("INVALID_DEFINITION", `workflow id "${definition.id}" is taken; choose another id`);
    // Runs stay when their workflow is deleted, and whoever can see a workflow sees the runs under its id: a new
    // workflow may not take an id under which another user's runs are kept (they would become theirs to read).
    if (!existing && (await tx.run.findFirst({ where: { workflowId: definition.id, ownerId: { not: actor.id } }, select: { id: true } })))
      throw new OrchestratorError("INVALID_DEFINITION", `workflow id "${definition.id}" was used before by another user; choose another id`);
    const version = (existing?.latestVersion ?? 0) + 1;
    if (existing) {
      await tx.workflow.update({ where: { id: definition.id }, data: { name: definition.name, latestVersion: version } });
    } else {
      await tx.workflow.create({ data: { id: definition.id, ownerId, name: definition.name, latestVersion: version } });
    }
    await tx.workflowVersion.create({
      data: { workflowId: definition.id, version, definition: JSON.stringify(definition) },
    });
    const what = named(definition.name, definition.id);
    await recordAudit(tx, {
      actorId: ownerId,
      action: options.restoredFrom ? "workflow.restore" : existing ? "workflow.save" : "workflow.create",
      targetType: "workflow",
      targetId: definition.id,
      summary: options.restoredFrom
        ? `Restored version ${options.restoredFrom} of workflow ${what} as version ${version}`
        : existing
          ? `Saved version ${version} of workflow ${what}${existing.name !== definition.name ? ` (renamed from "${existing.name}")` : ""}`
          : `Created workflow ${what}`,
      data: { version, steps: definition.steps.length, ...(options.restoredFrom ? { restoredFrom: options.restoredFrom } : {}) },
    });
    return { workflowId: definition.id, version };
  });
}

/**
 * Saves a definition as the workflow's latest version unless that version already is this definition (a file run
 * again and again from the CLI keeps one version); returns the version that holds it.
 */
export async function saveWorkflowVersionIfChanged(db: Db, userId: string, definition: WorkflowDefinition) {
  const actor = await actorById(db, userId);
  const existing = await db.workflow.findFirst({ where: { AND: [{ id: definition.id }, workflowsVisibleTo(actor)] }, select: { latestVersion: true } });
  if (existing?.latestVersion) {
    const latest = await db.workflowVersion.findUnique({ where: { workflowId_version: { workflowId: definition.id, version: existing.latestVersion } } });
    if (latest?.definition === JSON.stringify(definition)) return { workflowId: definition.id, version: latest.version };
  }
  return saveWorkflowVersion(db, userId, definition);
}

/** The workflows the user can see, newest change first, with the owner's name and whether they are shared. */
export async function listWorkflows(db: Db, userId: string) {
  const actor = await actorById(db, userId);
  const rows = await db.workflow.findMany({
    where: workflowsVisibleTo(actor),
    orderBy: { updatedAt: "desc" },
    select: { id: true, name: true, latestVersion: true, updatedAt: true, ownerId: true, owner: { select: { name: true, email: true } } },
  });
  return rows.map(({ owner, ...row }) => ({ ...row, ownerName: owner.name || owner.email, mine: row.ownerId === actor.id }));
}

/** A saved version (the latest by default) the user can see, with the user's access to it; null when there is none. */
export async function getWorkflow(db: Db, userId: string, id: string, version?: number) {
  const actor = await actorById(db, userId);
  const access = await workflowAccess(db, actor, id);
  if (!access) return null;
  const workflow = await db.workflow.findFirst({
    where: { id },
    include: { versions: { select: { version: true, createdAt: true }, orderBy: { version: "desc" } } },
  });
  if (!workflow || workflow.latestVersion === 0) return null;
  const wanted = version ?? workflow.latestVersion;
  const row = await db.workflowVersion.findUnique({ where: { workflowId_version: { workflowId: id, version: wanted } } });
  if (!row) return null;
  return {
    id: workflow.id,
    name: workflow.name,
    version: row.version,
    definition: StoredDefinitionSchema.parse(JSON.parse(row.definition)),
    versions: workflow.versions,
    ownerId: workflow.ownerId,
    access: access as Access,
  };
}

/** Deletes a workflow with its versions, shares and webhook (edit access); its runs stay in the history. */
export async function deleteWorkflow(db: Db, userId: string, id: string) {
  const actor = await actorById(db, userId);
  await requireWorkflowAccess(db, actor, id, "edit");
  await db.$transaction(async (tx) => {
    const deleted = await tx.workflow.delete({ where: { id }, select: { name: true, latestVersion: true } });
    await recordAudit(tx, {
      actorId: actor.id,
      action: "workflow.delete",
      targetType: "workflow",
      targetId: id,
      summary: `Deleted workflow ${named(deleted.name, id)} with its ${deleted.latestVersion} version${deleted.latestVersion === 1 ? "" : "s"} (its runs stay)`,
      data: { name: deleted.name, versions: deleted.latestVersion },
    });
  });
}

const MAX_SHARES_PER_WORKFLOW = 500;

/** Who a workflow is shared with (edit access to see it). */
export async function listShares(db: Db, userId: string, workflowId: string) {
  const actor = await actorById(db, userId);
  await requireWorkflowAccess(db, actor, workflowId, "edit");
  const shares = await db.workflowShare.findMany({
    where: { workflowId },
    orderBy: { createdAt: "asc" },
    select: { permission: true, user: { select: { id: true, email: true, name: true, role: true } } },
  });
  return shares.map((share) => ({ ...share.user, permission: share.permission as Access }));
}

/**
 * Shares a workflow with a user by email, or changes or removes (`permission: null`) a share. Only the owner of
 * the workflow and admins share it (an editor it was shared with cannot pass it on).
 */
export async function setShare(db: Db, userId: string, workflowId: string, email: string, permission: Access | null) {
  const actor = await actorById(db, userId);
  await requireWorkflowAccess(db, actor, workflowId, "edit");
  const workflow = await db.workflow.findUniqueOrThrow({ where: { id: workflowId }, select: { ownerId: true } });
  if (workflow.ownerId !== actor.id && actor.role !== "owner" && actor.role !== "admin")
    throw new OrchestratorError("FORBIDDEN", "only the workflow's owner or an admin can share it");
  const target = await db.user.findUnique({ where: { email: email.trim().toLowerCase() }, select: { id: true, email: true } });
  if (!target) throw new OrchestratorError("NOT_FOUND", `no user with the email "${email}": an admin adds users in Settings → Users`);
  if (target.id === workflow.ownerId) throw new OrchestratorError("INVALID_INPUT", "the owner of a workflow always has access to it");
  const before = await db.workflowShare.findUnique({ where: { workflowId_userId: { workflowId, userId: target.id } }, select: { permission: true } });
  if (permission === null) {
    await db.workflowShare.deleteMany({ where: { workflowId, userId: target.id } });
  } else {
    const count = await db.workflowShare.count({ where: { workflowId } });
    if (count >= MAX_SHARES_PER_WORKFLOW) throw new OrchestratorError("INVALID_INPUT", `a workflow can be shared with at most ${MAX_SHARES_PER_WORKFLOW} users`);
    await db.workflowShare.upsert({
      where: { workflowId_userId: { workflowId, userId: target.id } },
      create: { workflowId, userId: target.id, permission },
      update: { permission },
    });
  }
  await recordAudit(db, {
    actorId: actor.id,
    action: permission === null ? "workflow.unshare" : "workflow.share",
    targetType: "workflow",
    targetId: workflowId,
    subjectId: target.id,
    summary:
      permission === null
        ? `Stopped sharing workflow "${workflowId}" with ${target.email}${before ? "" : " (it was not shared with them)"}`
        : `Shared workflow "${workflowId}" with ${target.email} to ${permission}${before && before.permission !== permission ? ` (was ${before.permission})` : ""}`,
    data: { userId: target.id, email: target.email, permission, before: before?.permission ?? null },
  });
}
