import type { SqlCheckpointSaver } from "@/lib/checkpoint/sql-saver";
import type { Db } from "@/lib/db";

/**
 * Checkpoint retention: runs that ended more than `days` ago keep only their final checkpoint (the end state,
 * enough for the run page and a fork from the end); their step-by-step history is dropped.
 */
export async function pruneCheckpoints(db: Db, saver: SqlCheckpointSaver, days: number): Promise<{ runs: number }> {
  const cutoff = new Date(Date.now() - days * 86_400_000);
  const candidates = await db.checkpoint.groupBy({
    by: ["threadId"],
    where: { threadId: { in: (await finishedBefore(db, cutoff)).map((r) => r.id) } },
    _count: { _all: true },
  });
  let runs = 0;
  for (const { threadId, _count } of candidates) if (_count._all > 1 && (await saver.compactThread(threadId))) runs++;
  return { runs };
}

function finishedBefore(db: Db, cutoff: Date) {
  return db.run.findMany({ where: { status: { in: ["succeeded", "failed", "cancelled"] }, finishedAt: { lt: cutoff } }, select: { id: true } });
}

/** Days to keep checkpoint history of finished runs: env ORCHESTRATOR_CHECKPOINT_RETENTION_DAYS; unset keeps all. */
export function retentionDays(): number | undefined {
  const days = Number(process.env.ORCHESTRATOR_CHECKPOINT_RETENTION_DAYS);
  return Number.isFinite(days) && days > 0 ? days : undefined;
}
