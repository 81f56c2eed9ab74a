import type { Db } from "@/lib/db";

/** What a caller tells the audit log about one change (never a secret's value). */
export interface AuditEntryInput {
  actorId: string;
  /** dotted name, e.g. workflow.save, run.start, webhook.rotate */
  action: string;
  targetType: string;
  targetId: string;
  /** one line a person reads on the Audit page and in `orchestrator audit` */
  summary?: string;
  /** machine-readable details of what changed */
  data?: Record<string, unknown>;
}

type AuditWriter = Pick<Db, "auditLog">;

/** The one way to write an audit entry: every change goes through here (inside the change's transaction when it has one). */
export async function recordAudit(db: AuditWriter, entry: AuditEntryInput): Promise<void> {
  const data = entry.summary !== undefined || entry.data ? JSON.stringify({ ...(entry.data ?? {}), ...(entry.summary !== undefined ? { summary: entry.summary } : {}) }) : null;
  await db.auditLog.create({ data: { actorId: entry.actorId, action: entry.action, targetType: entry.targetType, targetId: entry.targetId, data } });
}
