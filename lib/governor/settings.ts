import type { Db } from "@/lib/db";
import type { SqlConnection } from "@/lib/db/sql";
import { OrchestratorError } from "@/lib/engine/errors";
import { ModelLimitsSchema, normalizeRow, type LimitKind, type ModelLimitRow } from "./limits";

/** The limits as every run reads them (one query of a small table). */
export async function readModelLimits(sql: SqlConnection): Promise<ModelLimitRow[]> {
  const rows = await sql.queryCommitted<{ kind: string; match: string; maxConcurrent: number | null; rpm: number | null; tpm: number | null }>(
    `SELECT "kind", "match", "maxConcurrent", "rpm", "tpm" FROM "ModelLimit"`,
  );
  return rows.map((r) => ({
    kind: r.kind as LimitKind,
    match: r.match,
    maxConcurrent: r.maxConcurrent === null ? null : Number(r.maxConcurrent),
    rpm: r.rpm === null ? null : Number(r.rpm),
    tpm: r.tpm === null ? null : Number(r.tpm),
  }));
}

export interface ModelLimitView {
  kind: LimitKind;
  match: string;
  maxConcurrent: number | null;
  rpm: number | null;
  tpm: number | null;
}

export async function listModelLimits(db: Db): Promise<ModelLimitView[]> {
  const rows = await db.modelLimit.findMany({ orderBy: [{ kind: "asc" }, { match: "asc" }] });
  return rows.map(({ kind, match, maxConcurrent, rpm, tpm }) => ({ kind: kind as LimitKind, match, maxConcurrent, rpm, tpm }));
}

/**
 * Replaces the whole table with `rows` (the Settings form saves all its rows at once), in one transaction. Refuses
 * a bad row naming its position and field, and two rows for the same model or gateway. Returns what changed.
 */
export async function saveModelLimits(db: Db, input: unknown): Promise<{ added: string[]; removed: string[]; changed: string[]; count: number }> {
  const parsed = ModelLimitsSchema.safeParse(input);
  if (!parsed.success)
    throw new OrchestratorError(
      "INVALID_INPUT",
      `model limits: ${parsed.error.issues.map((i) => `${i.path.length ? `row ${Number(i.path[0]) + 1}${i.path.length > 1 ? ` ${i.path.slice(1).join(".")}` : ""}` : "limits"}: ${i.message}`).join("; ")}`,
    );
  const rows = parsed.data.map(normalizeRow);
  const seen = new Set<string>();
  rows.forEach((row, i) => {
    const id = `${row.kind} ${row.match}`;
    if (seen.has(id)) throw new OrchestratorError("INVALID_INPUT", `model limits: row ${i + 1} match: ${row.kind} "${row.match}" has a row already; one row per model or gateway`);
    seen.add(id);
  });
  const before = await listModelLimits(db);
  const label = (r: { kind: string; match: string }) => `${r.kind} ${r.match}`;
  const beforeBy = new Map(before.map((r) => [label(r), r]));
  const afterBy = new Map(rows.map((r) => [label(r), r]));
  const added = [...afterBy.keys()].filter((k) => !beforeBy.has(k));
  const removed = [...beforeBy.keys()].filter((k) => !afterBy.has(k));
  const changed = [...afterBy.entries()]
    .filter(([k, r]) => {
      const b = beforeBy.get(k);
      return b && (b.maxConcurrent !== (r.maxConcurrent ?? null) || b.rpm !== (r.rpm ?? null) || b.tpm !== (r.tpm ?? null));
    })
    .map(([k]) => k);
  await db.$transaction([
    db.modelLimit.deleteMany({}),
    ...rows.map((r) => db.modelLimit.create({ data: { kind: r.kind, match: r.match, maxConcurrent: r.maxConcurrent ?? null, rpm: r.rpm ?? null, tpm: r.tpm ?? null } })),
  ]);
  return { added, removed, changed, count: rows.length };
}
