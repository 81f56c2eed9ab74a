import type { Prisma } from "@/lib/db/generated/sqlite/client";
import { actorById, auditEntriesVisibleTo } from "@/lib/auth/access";
import type { Db } from "@/lib/db";
import { OrchestratorError } from "@/lib/engine/errors";

/**
 * The read side of the audit log (Audit page, `orchestrator audit`). Who reads what (`auditEntriesVisibleTo` in
 * lib/auth/access.ts):
 * - the owner and admins: every entry;
 * - everyone else: the entries they made, the entries about them (their user, tokens, secrets, runs), and the
 *   entries about workflows they can see (the workflow, its versions, webhook, shares and runs). An entry about
 *   a workflow that has since been deleted stays readable by its actor, its subject and admins.
 * Newest first, paged with a cursor on (createdAt, id), which stays stable while entries are added.
 */

export const AUDIT_PAGE_SIZE = 50;
export const MAX_AUDIT_LIMIT = 500;
const MAX_FILTER_LENGTH = 200;

export interface AuditFilter {
  /** An actor's email or user id. */
  actor?: string;
  /** An action (`run.cancel`) or a group (`run` = every `run.…`). */
  action?: string;
  targetType?: string;
  targetId?: string;
  /** Entries about this workflow: itself, its versions, webhook, shares and runs. */
  workflowId?: string;
  /** Inclusive bounds of the entry's time. */
  from?: Date;
  to?: Date;
  /** From a previous page's `nextCursor`. */
  cursor?: string;
  limit?: number;
}

export interface AuditRow {
  id: string;
  at: Date;
  actorId: string;
  /** The actor's email, or null when the user is gone. */
  actorEmail: string | null;
  actorName: string | null;
  action: string;
  targetType: string;
  targetId: string;
  summary: string;
  data: Record<string, unknown> | null;
}

function boundedText(value: string | undefined, field: string): string | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (!text) return undefined;
  if (text.length > MAX_FILTER_LENGTH) throw new OrchestratorError("INVALID_INPUT", `${field}: at most ${MAX_FILTER_LENGTH} characters`);
  return text;
}

/** A cursor names the last entry of a page: its time and id. */
export function encodeCursor(row: { at: Date; id: string }): string {
  return Buffer.from(`${row.at.toISOString()}|${row.id}`, "utf8").toString("base64url");
}

function decodeCursor(cursor: string): { at: Date; id: string } {
  const bad = () => new OrchestratorError("INVALID_INPUT", "cursor: not a cursor of this list; start again from the first page");
  if (cursor.length > 300) throw bad();
  const [iso, id, extra] = Buffer.from(cursor, "base64url").toString("utf8").split("|");
  const at = new Date(iso ?? "");
  if (extra !== undefined || !id || Number.isNaN(at.getTime())) throw bad();
  return { at, id };
}

/** Parses a filter's limit: a whole number from 1 to MAX_AUDIT_LIMIT, naming the field otherwise. */
export function auditLimit(value: unknown, fallback: number, field = "limit"): number {
  if (value === undefined || value === null || value === "") return fallback;
  const limit = typeof value === "number" ? value : Number(value);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_AUDIT_LIMIT) throw new OrchestratorError("INVALID_INPUT", `${field}: a whole number from 1 to ${MAX_AUDIT_LIMIT}`);
  return limit;
}

/** Parses a date bound (`2026-12-03` or an ISO time); a bare day as `to` means the end of that day. */
export function auditDate(value: string | undefined, field: string, end = false): Date | undefined {
  const text = boundedText(value, field);
  if (!text) return undefined;
  const day = /^\d{4}-\d{2}-\d{2}$/.test(text);
  const at = new Date(day ? `${text}T${end ? "23:59:59.999" : "00:00:00.000"}Z` : text);
  if (Number.isNaN(at.getTime())) throw new OrchestratorError("INVALID_INPUT", `${field}: a date like 2026-12-03 or an ISO time like 2026-12-03T14:00:00Z`);
  return at;
}

/** One page of the entries the user may read, newest first, and the cursor of the next page (null at the end). */
export async function listAudit(db: Db, userId: string, filter: AuditFilter = {}): Promise<{ entries: AuditRow[]; nextCursor: string | null }> {
  const actor = await actorById(db, userId);
  const limit = auditLimit(filter.limit, AUDIT_PAGE_SIZE);
  const where: Prisma.AuditLogWhereInput[] = [await auditEntriesVisibleTo(db, actor)];

  const actorText = boundedText(filter.actor, "actor");
  if (actorText) {
    const user = await db.user.findFirst({ where: { OR: [{ email: actorText.toLowerCase() }, { id: actorText }] }, select: { id: true } });
    where.push({ actorId: user?.id ?? actorText });
  }
  const action = boundedText(filter.action, "action");
  if (action) where.push(action.includes(".") ? { action } : { action: { startsWith: `${action}.` } });
  const targetType = boundedText(filter.targetType, "targetType");
  if (targetType) where.push({ targetType });
  const targetId = boundedText(filter.targetId, "target");
  if (targetId) where.push({ targetId });
  const workflowId = boundedText(filter.workflowId, "workflow");
  if (workflowId) where.push({ workflowId });
  if (filter.from) where.push({ createdAt: { gte: filter.from } });
  if (filter.to) where.push({ createdAt: { lte: filter.to } });
  if (filter.cursor) {
    const after = decodeCursor(filter.cursor);
    where.push({ OR: [{ createdAt: { lt: after.at } }, { createdAt: after.at, id: { lt: after.id } }] });
  }

  const rows = await db.auditLog.findMany({ where: { AND: where }, orderBy: [{ createdAt: "desc" }, { id: "desc" }], take: limit + 1 });
  const page = rows.slice(0, limit);
  const actorIds = [...new Set(page.map((row) => row.actorId))];
  const users = actorIds.length ? await db.user.findMany({ where: { id: { in: actorIds } }, select: { id: true, email: true, name: true } }) : [];
  const byId = new Map(users.map((user) => [user.id, user]));
  const entries = page.map((row): AuditRow => {
    const data = parseData(row.data);
    const { summary: legacySummary, ...rest } = data ?? {};
    return {
      id: row.id,
      at: row.createdAt,
      actorId: row.actorId,
      actorEmail: byId.get(row.actorId)?.email || null,
      actorName: byId.get(row.actorId)?.name || null,
      action: row.action,
      targetType: row.targetType,
      targetId: row.targetId,
      // Entries written before the summary column kept it in data.
      summary: row.summary ?? (typeof legacySummary === "string" ? legacySummary : ""),
      data: data ? rest : null,
    };
  });
  const last = entries.at(-1);
  return { entries, nextCursor: rows.length > limit && last ? encodeCursor(last) : null };
}

function parseData(text: string | null): Record<string, unknown> | null {
  if (!text) return null;
  try {
    const value = JSON.parse(text) as unknown;
    return value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : { value };
  } catch {
    return null;
  }
}

/** An entry as `orchestrator audit --json` prints it (a public contract). */
export function auditJson(row: AuditRow) {
  return { at: row.at.toISOString(), actor: row.actorEmail ?? row.actorId, action: row.action, targetType: row.targetType, targetId: row.targetId, summary: row.summary };
}
