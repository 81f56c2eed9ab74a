/**
 * The latest output of every step of a run, kept as ONE value in ONE LangGraph state channel (`outputs`).
 *
 * The value is persistent (copy on write): steps are spread over a fixed number of buckets by a hash of their id,
 * and recording an output copies the top level (at most BUCKETS entries) and the one bucket it lands in, never the
 * whole map. So recording a step costs the same in a run of 10 steps and one of 50,000, and earlier versions of the
 * value (held by LangGraph for checkpoints and reads) are never changed under anyone's feet.
 *
 * What is written to the channel is an `OutputsUpdate` (only the records that changed), which is also what a
 * checkpoint stores per step: the channel is a LangGraph `DeltaChannel`, rebuilt from these writes when loaded.
 */

export interface StepOutputRecord {
  output: unknown;
  /** Which execution of the step produced it (1 = first); the loop limit counts with it. */
  execution: number;
}

/** bucket number → step id → record. Plain JSON, as checkpoint snapshots store it. */
export type StepOutputs = Record<string, Record<string, StepOutputRecord>>;

/**
 * A write to the outputs channel: the records it sets. Wrapped in `records` (not the bare map) because LangGraph
 * reads a top-level `__overwrite__` key as "replace the channel" — and that is a valid step id.
 */
export interface OutputsUpdate {
  records: Record<string, StepOutputRecord>;
}

/** Enough buckets that one stays small at the largest run (50,000 steps: ~200 per bucket). */
const BUCKETS = 256;

/** FNV-1a over the id's UTF-16 units: cheap, stable across processes (it decides where stored records live). */
function bucketOf(stepId: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < stepId.length; i++) {
    hash ^= stepId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return String((hash >>> 0) % BUCKETS);
}

export const emptyOutputs = (): StepOutputs => ({});

export function recordOf(outputs: StepOutputs | null | undefined, stepId: string): StepOutputRecord | undefined {
  const record = outputs?.[bucketOf(stepId)]?.[stepId];
  return record ?? undefined;
}

/** The reducer of the outputs channel: applies updates without copying more than the touched buckets. */
export function applyOutputUpdates(base: StepOutputs, updates: OutputsUpdate[]): StepOutputs {
  const next: StepOutputs = { ...base };
  const copied = new Set<string>();
  for (const update of updates) {
    for (const [stepId, record] of Object.entries(update?.records ?? {})) {
      const bucket = bucketOf(stepId);
      if (!copied.has(bucket)) {
        next[bucket] = { ...next[bucket] };
        copied.add(bucket);
      }
      next[bucket][stepId] = record;
    }
  }
  return next;
}

/** Every step's record (order: by bucket, then as recorded). */
export function* allRecords(outputs: StepOutputs | null | undefined): Generator<[string, StepOutputRecord]> {
  for (const bucket of Object.values(outputs ?? {})) for (const entry of Object.entries(bucket)) yield entry;
}

export function outputsFromRecords(records: Iterable<[string, StepOutputRecord]>): StepOutputs {
  const map: Record<string, StepOutputRecord> = {};
  for (const [stepId, record] of records) map[stepId] = record;
  return applyOutputUpdates(emptyOutputs(), [{ records: map }]);
}
