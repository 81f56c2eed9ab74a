import type { SqlConnection, SqlStatement } from "@/lib/db/sql";
import type { TokenEvent } from "@/lib/runner/event-types";

/**
 * Streamed text of runs executing in a process that no realtime server hears (a CLI process: no Socket.IO in it).
 * LLM tokens are broadcast, never stored, by the process that executes the run; such a process stores them
 * instead in throttled chunks (`StreamChunk`: one row per step per `intervalMs` with the text since the last one
 * and its position), which the realtime servers read while someone watches the run and relay as token events.
 * A chunk goes in the run's event log write chain and carries the last event seq before it (`afterSeq`), so a
 * reader relays events and chunks in the order they were written. Bounded: a step keeps its last `maxStepChars`
 * stored (older chunks are deleted as it goes on). When it ends, the text not stored yet goes in a last chunk ahead
 * of its end event and only its last chunks stay (readers that polled before the end complete their text from
 * them; its output holds the whole text), deleted `lingerMs` later — or, when the process is gone by then (a CLI
 * process exits when its run ends), by the next headless process's sweep of runs that ended a while ago.
 *
 * A publisher that carries tokens between processes itself (queue-mode workers over Redis) does not need this.
 */
export interface StoredTokenPolicy {
  /** Time between two chunks of a step (the tokens in between make one chunk). */
  intervalMs: number;
  /** Characters kept stored per step execution (the last ones); readers see the offset of what they miss. */
  maxStepChars: number;
  /** How long an ended step's chunks stay for readers that have not read its last ones (a few of their polls). */
  lingerMs: number;
}

export const STORED_TOKENS: StoredTokenPolicy = { intervalMs: 250, maxStepChars: 64 * 1024, lingerMs: 5000 };

/** Chunks an ended step keeps for a while: what readers polling every half second may not have read yet. */
const KEPT_AFTER_END = 3;
/** Chunks of runs that stopped this long ago are deleted by the sweep, at most once per this time per publisher. */
const SWEEP_AFTER_MS = 60_000;
const nextSweep = new WeakMap<StoredTokenPolicy, number>();

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

/** The writer side, one per run event log: turns tokens into chunk rows and removes them after steps end. */
export class StoredTokenWriter {
  private readonly steps = new Map<string, StepChunks>();
  /** Ended step executions whose chunks are deleted at `at`. */
  private lingering: Array<{ stepId: string; execution: number; at: number }> = [];
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
    this.keepTicking();
  }

  /**
   * The step execution ends (called before its end event is queued): the text not stored yet goes in a last chunk,
   * ahead of the end; the last few chunks stay a while for readers that have not read them.
   */
  stepEnded(stepId: string, execution: number) {
    const key = `${stepId}#${execution}`;
    const step = this.steps.get(key);
    if (!step) return;
    this.steps.delete(key);
    const statements: SqlStatement[] = [];
    this.storePending(step, statements);
    if (step.stored.length > KEPT_AFTER_END)
      statements.push(this.deleteBefore(step, step.stored[step.stored.length - KEPT_AFTER_END]));
    this.write(statements);
    this.lingering.push({ stepId, execution, at: Date.now() + this.policy.lingerMs });
    this.keepTicking();
  }

  /** The run stopped (ended or waits): also sweeps what runs that stopped a while ago left (see above). */
  runEnded() {
    const now = Date.now();
    if (now < (nextSweep.get(this.policy) ?? 0)) return;
    nextSweep.set(this.policy, now + SWEEP_AFTER_MS);
    this.write([
      {
        sql: `DELETE FROM "StreamChunk" WHERE "runId" IN (SELECT "id" FROM "Run" WHERE "status" NOT IN ('queued', 'running') AND "finishedAt" < ?)`,
        params: [new Date(now - SWEEP_AFTER_MS)],
      },
    ]);
  }

  private keepTicking() {
    this.timer ??= setTimeout(() => this.tick(), this.policy.intervalMs).unref();
  }

  private tick() {
    this.timer = undefined;
    const statements: SqlStatement[] = [];
    for (const step of this.steps.values()) this.storePending(step, statements);
    const now = Date.now();
    for (const { stepId, execution } of this.lingering.filter((ended) => ended.at <= now))
      statements.push({ sql: `DELETE FROM "StreamChunk" WHERE "runId" = ? AND "stepId" = ? AND "execution" = ?`, params: [this.runId, stepId, execution] });
    this.lingering = this.lingering.filter((ended) => ended.at > now);
    if (statements.length) this.write(statements);
    if (this.lingering.length) this.keepTicking();
  }

  private storePending(step: StepChunks, statements: SqlStatement[]) {
    if (!step.pending) return;
    let { pending: text, pendingAt: position } = step;
    step.pending = "";
    if (text.length > this.policy.maxStepChars) {
      position += text.length - this.policy.maxStepChars;
      text = text.slice(-this.policy.maxStepChars);
    }
    const afterSeq = this.lastSeq();
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
      statements.push(this.deleteBefore(step, step.stored[keep]));
    }
  }

  /** Deletes a step's chunks that start before `position`. */
  private deleteBefore(step: StepChunks, position: number): SqlStatement {
    step.stored = step.stored.filter((start) => start >= position);
    return {
      sql: `DELETE FROM "StreamChunk" WHERE "runId" = ? AND "stepId" = ? AND "execution" = ? AND "position" < ?`,
      params: [this.runId, step.stepId, step.execution, position],
    };
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

/**
 * The chunks stored after each run's cursor (at most `take`, in order per run), and each run's last stored event
 * seq, read in one statement, so one snapshot: the events up to that seq and these chunks are exactly what was
 * stored at one moment, and merged by `afterSeq` they are in the order they were written (a chunk stored later
 * comes after all of those events). The reader side: realtime servers.
 */
export async function storedChunksAfter(
  sql: SqlConnection,
  cursors: Array<[runId: string, cursor: ChunkCursor]>,
  take: number,
): Promise<{ chunks: StoredChunk[]; lastSeqs: Map<string, number> }> {
  if (!cursors.length) return { chunks: [], lastSeqs: new Map() };
  const after = cursors.map(() => `("runId" = ? AND ("afterSeq" > ? OR ("afterSeq" = ? AND "part" > ?)))`).join(" OR ");
  const rows = await sql.queryCommitted<{ runId: string; afterSeq: number; part: number; stepId: string | null; execution: number | null; position: number | null; text: string | null }>(
    `SELECT * FROM (SELECT "runId", "afterSeq", "part", "stepId", "execution", "position", "text" FROM "StreamChunk" WHERE ${after} ORDER BY "runId", "afterSeq", "part" LIMIT ?) AS "chunks"
     UNION ALL
     SELECT "runId", MAX("seq"), -1, NULL, NULL, NULL, NULL FROM "RunEvent" WHERE "runId" IN (${cursors.map(() => "?").join(", ")}) GROUP BY "runId"`,
    [...cursors.flatMap(([runId, { afterSeq, part }]) => [runId, afterSeq, afterSeq, part]), take, ...cursors.map(([runId]) => runId)],
  );
  const chunks: StoredChunk[] = [];
  const lastSeqs = new Map<string, number>();
  for (const row of rows) {
    if (row.stepId === null) {
      lastSeqs.set(row.runId, Number(row.afterSeq));
      continue;
    }
    const token = { runId: row.runId, stepId: row.stepId, execution: Number(row.execution), text: row.text ?? "", offset: Number(row.position) };
    chunks.push({ runId: row.runId, afterSeq: Number(row.afterSeq), part: Number(row.part), token });
  }
  chunks.sort((a, b) => (a.runId < b.runId ? -1 : a.runId > b.runId ? 1 : a.afterSeq - b.afterSeq || a.part - b.part));
  return { chunks, lastSeqs };
}
