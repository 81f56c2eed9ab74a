import type { Db } from "@/lib/db";
import type { SqlStatement } from "@/lib/db/sql";
import type { TokenEvent } from "@/lib/runner/event-types";

/**
 * Streamed text of runs executing in a process that no realtime server hears (a CLI process: no Socket.IO in it).
 * LLM tokens are broadcast, never stored, by the process that executes the run; such a process stores them
 * instead in throttled chunks (`StreamChunk`: one row per step per `intervalMs` with the text since the last one
 * and its position), which the realtime servers read while someone watches the run and relay as token events.
 * A chunk goes in the run's event log write chain and carries the last event seq before it (`afterSeq`), so a
 * reader relays events and chunks in the order they were written. Bounded: a step keeps its last `maxStepChars`
 * stored (older chunks are deleted as it goes on); its chunks are deleted when it ends (its output holds the whole
 * text, and the delete commits with its end) and the run's when it stops.
 *
 * A publisher that carries tokens between processes itself (queue-mode workers over Redis) does not need this.
 */
export interface StoredTokenPolicy {
  /** Time between two chunks of a step (the tokens in between make one chunk). */
  intervalMs: number;
  /** Characters kept stored per step execution (the last ones); readers see the offset of what they miss. */
  maxStepChars: number;
}

export const STORED_TOKENS: StoredTokenPolicy = { intervalMs: 250, maxStepChars: 64 * 1024 };

interface StepChunks {
  stepId: string;
  execution: number;
  /** Text not stored yet, and its position in the step execution's text. */
  pending: string;
  pendingAt: number;
  /** Positions of the chunks stored, oldest first, and where the last one ends. */
  stored: number[];
  storedEnd: number;
}

/** The writer side, one per run event log: turns tokens into chunk rows and removes them when steps end. */
export class StoredTokenWriter {
  private readonly steps = new Map<string, StepChunks>();
  private timer?: NodeJS.Timeout;
  private lastAfterSeq = -1;
  private part = 0;

  constructor(
    private readonly runId: string,
    private readonly policy: StoredTokenPolicy,
    /** Queues statements in the run's write chain (in order with its events). */
    private readonly write: (statements: SqlStatement[]) => void,
    /** The seq of the last event queued before now. */
    private readonly lastSeq: () => number,
  ) {}

  token(stepId: string, execution: number, offset: number, text: string) {
    const key = `${stepId}#${execution}`;
    let step = this.steps.get(key);
    if (!step) this.steps.set(key, (step = { stepId, execution, pending: "", pendingAt: offset, stored: [], storedEnd: offset }));
    if (!step.pending) step.pendingAt = offset;
    step.pending += text;
    this.timer ??= setTimeout(() => this.store(), this.policy.intervalMs).unref();
  }

  /** The step execution ended: its text is in its output; what was stored for it goes with the end. */
  stepEnded(stepId: string, execution: number) {
    const key = `${stepId}#${execution}`;
    const step = this.steps.get(key);
    if (!step) return;
    this.steps.delete(key);
    if (step.stored.length)
      this.write([{ sql: `DELETE FROM "StreamChunk" WHERE "runId" = ? AND "stepId" = ? AND "execution" = ?`, params: [this.runId, stepId, execution] }]);
  }

  /** The run stopped (ended or waits): nothing of it streams any more, including what an earlier process left. */
  runEnded() {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.steps.clear();
    this.write([{ sql: `DELETE FROM "StreamChunk" WHERE "runId" = ?`, params: [this.runId] }]);
  }

  private store() {
    this.timer = undefined;
    const statements: SqlStatement[] = [];
    const afterSeq = this.lastSeq();
    for (const step of this.steps.values()) {
      if (!step.pending) continue;
      let { pending: text, pendingAt: position } = step;
      step.pending = "";
      if (text.length > this.policy.maxStepChars) {
        position += text.length - this.policy.maxStepChars;
        text = text.slice(-this.policy.maxStepChars);
      }
      this.part = afterSeq === this.lastAfterSeq ? this.part + 1 : 0;
      this.lastAfterSeq = afterSeq;
      // DO NOTHING: a chunk is a preview; a clash (two writers of one run after a lost lease) must not fail the run.
      statements.push({
        sql: `INSERT INTO "StreamChunk" ("runId", "afterSeq", "part", "stepId", "execution", "position", "text") VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
        params: [this.runId, afterSeq, this.part, step.stepId, step.execution, position, text],
      });
      step.stored.push(position);
      step.storedEnd = position + text.length;
      // Past half as much again as the bound, back under it: a delete every so often, not one per chunk.
      if (step.storedEnd - step.stored[0] > this.policy.maxStepChars * 1.5) {
        const keep = step.stored.findIndex((start) => step.storedEnd - start <= this.policy.maxStepChars);
        statements.push({
          sql: `DELETE FROM "StreamChunk" WHERE "runId" = ? AND "stepId" = ? AND "execution" = ? AND "position" < ?`,
          params: [this.runId, step.stepId, step.execution, step.stored[keep]],
        });
        step.stored = step.stored.slice(keep);
      }
    }
    if (statements.length) this.write(statements);
  }
}

/** Where a reader is in a run's chunks: the last one it relayed. */
export interface ChunkCursor {
  afterSeq: number;
  part: number;
}

export const CHUNKS_FROM_START: ChunkCursor = { afterSeq: -1, part: 0 };

export interface StoredChunk extends ChunkCursor {
  runId: string;
  token: TokenEvent;
}

/** The chunks stored after each run's cursor, in order per run (the reader side: realtime servers). */
export async function storedChunksAfter(db: Db, cursors: Array<[runId: string, cursor: ChunkCursor]>, take: number): Promise<StoredChunk[]> {
  if (!cursors.length) return [];
  const rows = await db.streamChunk.findMany({
    where: {
      OR: cursors.map(([runId, { afterSeq, part }]) => ({ runId, OR: [{ afterSeq: { gt: afterSeq } }, { afterSeq, part: { gt: part } }] })),
    },
    orderBy: [{ runId: "asc" }, { afterSeq: "asc" }, { part: "asc" }],
    take,
  });
  return rows.map((row) => ({
    runId: row.runId,
    afterSeq: row.afterSeq,
    part: row.part,
    token: { runId: row.runId, stepId: row.stepId, execution: row.execution, text: row.text, offset: row.position },
  }));
}
