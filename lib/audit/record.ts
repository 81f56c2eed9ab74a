import { randomUUID } from "node:crypto";
import type { Db } from "@/lib/db";
import type { SqlStatement } from "@/lib/db/sql";

/**
 * The audit log: who changed what, when. Append-only — nothing in the app updates or deletes an entry, and the
 * table has no relations, so deleting a user, workflow or run (or retention) leaves its entries.
 */

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
  /**
   * The workflow the entry is about, for who may read it (lib/audit/query.ts). Derived when left out: a workflow
   * target is itself, a run target its run's workflow.
   */
  workflowId?: string | null;
  /** The user the entry is about (that user may read it). Derived when left out: a user target, a run's owner. */
  subjectId?: string | null;
}

/** Where an entry can be written: the client or a transaction (the run lookup is for deriving a run's scope). */
type AuditWriter = Pick<Db, "auditLog" | "run">;

/** Bounds of what one entry stores (a summary is one line; data is details, not payloads). */
export const MAX_SUMMARY_LENGTH = 500;
const MAX_DATA_CHARS = 8_000;

const oneLine = (text: string) => {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > MAX_SUMMARY_LENGTH ? `${line.slice(0, MAX_SUMMARY_LENGTH - 1)}…` : line;
};

function dataText(data: Record<string, unknown> | undefined): string | null {
  if (!data) return null;
  const text = JSON.stringify(data);
  return text.length > MAX_DATA_CHARS ? JSON.stringify({ truncated: true, keys: Object.keys(data).slice(0, 50) }) : text;
}

/** The one way to write an audit entry: every change goes through here (inside the change's transaction when it has one). */
export async function recordAudit(db: AuditWriter, entry: AuditEntryInput): Promise<void> {
  let { workflowId, subjectId } = entry;
  if (entry.targetType === "workflow" && workflowId === undefined) workflowId = entry.targetId;
  if (entry.targetType === "user" && subjectId === undefined) subjectId = entry.targetId;
  if (entry.targetType === "run" && (workflowId === undefined || subjectId === undefined)) {
    const run = await db.run.findUnique({ where: { id: entry.targetId }, select: { workflowId: true, ownerId: true } });
    if (workflowId === undefined) workflowId = run?.workflowId;
    if (subjectId === undefined) subjectId = run?.ownerId;
  }
  await db.auditLog.create({
    data: {
      actorId: entry.actorId,
      action: entry.action,
      targetType: entry.targetType,
      targetId: entry.targetId,
      summary: entry.summary === undefined ? null : oneLine(entry.summary),
      workflowId: workflowId ?? null,
      subjectId: subjectId ?? null,
      data: dataText(entry.data),
    },
  });
}

/**
 * The same entry as a raw statement, for writes that go through lib/db/sql.ts in one transaction (a run's row and
 * its start entry: the webhook hot path pays no extra round trip). Scope fields must be given: nothing is derived.
 */
export function auditStatement(entry: AuditEntryInput & { workflowId: string | null; subjectId: string | null }, at = new Date()): SqlStatement {
  return {
    sql: `INSERT INTO "AuditLog" ("id", "actorId", "action", "targetType", "targetId", "summary", "workflowId", "subjectId", "data", "createdAt")
          VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    params: [
      `aud_${randomUUID().replace(/-/g, "")}`,
      entry.actorId,
      entry.action,
      entry.targetType,
      entry.targetId,
      entry.summary === undefined ? null : oneLine(entry.summary),
      entry.workflowId,
      entry.subjectId,
      dataText(entry.data),
      at,
    ],
  };
}

/** How the run started, as the audit log names it (`source` of a Run row → `data.origin`). */
export function runOrigin(source: string | undefined): string {
  return source === "web" ? "ui" : (source ?? "api");
}

/** `"Name" (id)` for summaries. */
export const named = (name: string | null | undefined, id: string) => (name && name !== id ? `"${name}" (${id})` : `"${id}"`);
