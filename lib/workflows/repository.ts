import { randomBytes } from "node:crypto";
import type { Db } from "@/lib/db";
import { OrchestratorError } from "@/lib/engine/errors";
import { StoredDefinitionSchema, type WorkflowDefinition } from "@/lib/workflow/schema";

/** Saved workflows and their versions. Every query is scoped to the owner. */

export function newWorkflowId(): string {
  return `wf_${randomBytes(6).toString("hex")}`;
}

/** Creates the workflow or appends a new version; returns the version number. */
export async function saveWorkflowVersion(db: Db, ownerId: string, definition: WorkflowDefinition) {
  return db.$transaction(async (tx) => {
    const existing = await tx.workflow.findUnique({ where: { id: definition.id } });
    if (existing && existing.ownerId !== ownerId)
      throw new OrchestratorError("INVALID_DEFINITION", `workflow id "${definition.id}" is taken; choose another id`);
    const version = (existing?.latestVersion ?? 0) + 1;
    if (existing) {
      await tx.workflow.update({ where: { id: definition.id }, data: { name: definition.name, latestVersion: version } });
    } else {
      await tx.workflow.create({ data: { id: definition.id, ownerId, name: definition.name, latestVersion: version } });
    }
    await tx.workflowVersion.create({
      data: { workflowId: definition.id, version, definition: JSON.stringify(definition) },
    });
    await tx.auditLog.create({
      data: { actorId: ownerId, action: "workflow.save", targetType: "workflow", targetId: definition.id, data: JSON.stringify({ version }) },
    });
    return { workflowId: definition.id, version };
  });
}

/**
 * Saves a definition as the workflow's latest version unless that version already is this definition (a file run
 * again and again from the CLI keeps one version); returns the version that holds it.
 */
export async function saveWorkflowVersionIfChanged(db: Db, ownerId: string, definition: WorkflowDefinition) {
  const existing = await db.workflow.findFirst({ where: { id: definition.id, ownerId }, select: { latestVersion: true } });
  if (existing?.latestVersion) {
    const latest = await db.workflowVersion.findUnique({ where: { workflowId_version: { workflowId: definition.id, version: existing.latestVersion } } });
    if (latest?.definition === JSON.stringify(definition)) return { workflowId: definition.id, version: latest.version };
  }
  return saveWorkflowVersion(db, ownerId, definition);
}

export async function listWorkflows(db: Db, ownerId: string) {
  return db.workflow.findMany({
    where: { ownerId },
    orderBy: { updatedAt: "desc" },
    select: { id: true, name: true, latestVersion: true, updatedAt: true },
  });
}

export async function getWorkflow(db: Db, ownerId: string, id: string, version?: number) {
  const workflow = await db.workflow.findFirst({
    where: { id, ownerId },
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
  };
}
