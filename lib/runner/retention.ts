import type { SqlCheckpointSaver } from "@/lib/checkpoint/sql-saver";
import type { Db } from "@/lib/db";
import { OrchestratorError } from "@/lib/engine/errors";
import { compactionValues } from "./checkpoints";

/**
 * Checkpoint retention: runs that ended more than `days` ago keep only their final checkpoint (the end state,
 * enough for the run page and a fork from the end); their step-by-step history is dropped — also that of their
 * map steps, whose items are checkpointed under threads `<runId>:map:…`.
 */
export async function pruneCheckpoints(db: Db, saver: SqlCheckpointSaver, days: number): Promise<{ runs: number }> {
  const cutoff = new Date(Date.now() - days * 86_400_000);
  const ended = (await finishedBefore(db, cutoff)).map((r) => r.id);
  const pruned = new Set<string>();
  for (let i = 0; i < ended.length; i += 200) {
    const chunk = ended.slice(i, i + 200);
    const threads = await db.checkpoint.groupBy({
      by: ["threadId"],
      where: { OR: [{ threadId: { in: chunk } }, ...chunk.map((id) => ({ threadId: { startsWith: `${id}:` } }))] },
      _count: { _all: true },
    });
    for (const { threadId, _count } of threads) {
      if (_count._all <= 1) continue;
      // A run's own thread keeps its step outputs as writes, which compaction drops: they are kept as one snapshot.
      const values = threadId.includes(":") ? {} : await compactionValues(saver, threadId);
      if (await saver.compactThread(threadId, "", values)) pruned.add(threadId.split(":")[0]);
    }
  }
  return { runs: pruned.size };
}

function finishedBefore(db: Db, cutoff: Date) {
  return db.run.findMany({ where: { status: { in: ["succeeded", "failed", "cancelled"] }, finishedAt: { lt: cutoff } }, select: { id: true } });
}

const RETENTION_KEY = "checkpoints.retentionDays";

const positiveDays = (value: unknown) => {
  const days = Number(value);
  return Number.isFinite(days) && days > 0 ? days : undefined;
};

/**
 * Days to keep the checkpoint history of finished runs: env ORCHESTRATOR_CHECKPOINT_RETENTION_DAYS wins over the
 * Settings page; unset keeps everything.
 */
export async function retentionSetting(db: Db): Promise<{ days?: number; fromEnv: boolean }> {
  const fromEnv = positiveDays(process.env.ORCHESTRATOR_CHECKPOINT_RETENTION_DAYS);
  if (fromEnv) return { days: fromEnv, fromEnv: true };
  const row = await db.setting.findUnique({ where: { key: RETENTION_KEY } });
  return { days: positiveDays(row?.value), fromEnv: false };
}

/** Saves the retention in days (null: keep everything). */
export async function saveRetentionDays(db: Db, days: number | null) {
  if (days !== null && !(Number.isInteger(days) && days > 0 && days <= 36_500))
    throw new OrchestratorError("INVALID_INPUT", "retention: enter a whole number of days between 1 and 36500, or leave it empty to keep every checkpoint");
  if (days === null) await db.setting.deleteMany({ where: { key: RETENTION_KEY } });
  else await db.setting.upsert({ where: { key: RETENTION_KEY }, create: { key: RETENTION_KEY, value: String(days) }, update: { value: String(days) } });
}

/** Prunes with the current setting (a no-op when retention is off). */
export async function pruneByRetention(db: Db, saver: SqlCheckpointSaver): Promise<{ runs: number; days?: number }> {
  const { days } = await retentionSetting(db);
  return days ? { ...(await pruneCheckpoints(db, saver, days)), days } : { runs: 0 };
}
