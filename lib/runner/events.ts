import { randomUUID } from "node:crypto";
import type { SqlConnection, SqlStatement } from "@/lib/db/sql";
import type { AttemptRecord } from "@/lib/engine/compile";
import type { SerializedError } from "@/lib/engine/errors";
import type { RunEvent, RunEventBody, TokenEvent } from "@/lib/runner/event-types";
import { STORED_TOKENS, StoredTokenWriter, type StoredTokenPolicy } from "@/lib/runner/stored-tokens";

/**
 * Ids of step records in creation order (time, then a per-process counter, then randomness against other
 * processes): new rows land at the end of the primary-key index instead of on a random page of it, which a
 * random UUID makes every commit rewrite.
 */
let stepRowCounter = 0;
const processTag = randomUUID().slice(0, 8);
const newStepRowId = () => `sr${Date.now().toString(36)}${(stepRowCounter++ % 1_679_616).toString(36).padStart(4, "0")}${processTag}`;

/** Where live events go: Socket.IO rooms in the server; in a headless CLI process only the streamed text, stored. */
export interface RunPublisher {
  publish(event: RunEvent): void;
  publishToken(event: TokenEvent): void;
  /**
   * Set when no realtime server hears this process's tokens (a CLI process): the event log then also stores the
   * streamed text in throttled chunks for the servers to relay (stored-tokens.ts). Unset in the server (its own
   * Socket.IO carries them, with no write per token) and for a publisher that carries tokens between processes.
   */
  storeTokens?: StoredTokenPolicy;
}

/** A process without a realtime server (CLI, the TS API): its runs' streamed text reaches the servers' viewers. */
export const storedTokensPublisher: RunPublisher = { publish() {}, publishToken() {}, storeTokens: STORED_TOKENS };

/**
 * The ordered event log and step records of one run. Writes queue up and go to the database in batches, one
 * transaction each, in seq order; an event is broadcast only after it is stored, so a client that reads the
 * log and then follows the room never sees a gap.
 */
export class RunEventLog {
  private queue: Array<{ statement: SqlStatement; after?: () => void }> = [];
  /** Characters each running step execution has streamed so far (the offset of its next token). */
  private readonly streamed = new Map<string, number>();
  private draining?: Promise<void>;
  private failure: unknown;
  /** Stores the streamed text when the publisher reaches no realtime server. */
  private readonly storedTokens?: StoredTokenWriter;

  constructor(
    private readonly sql: SqlConnection,
    private readonly publisher: RunPublisher,
    readonly runId: string,
    private seq: number,
  ) {
    if (publisher.storeTokens)
      this.storedTokens = new StoredTokenWriter(runId, publisher.storeTokens, (statements) => statements.forEach((s) => this.push(s)), () => this.seq);
  }

  get lastSeq() {
    return this.seq;
  }

  emit(body: RunEventBody) {
    const at = new Date();
    const event = { ...body, runId: this.runId, seq: ++this.seq, at: at.toISOString() } as RunEvent;
    this.push(
      {
        sql: `INSERT INTO "RunEvent" ("runId", "seq", "type", "stepId", "payload", "createdAt") VALUES (?, ?, ?, ?, ?, ?)`,
        params: [this.runId, event.seq, event.type, "stepId" in event ? event.stepId : null, JSON.stringify(body), at],
      },
      () => this.publisher.publish(event),
    );
    if (this.storedTokens && event.type === "run.status" && event.status !== "running" && event.status !== "queued") this.storedTokens.runEnded();
  }

  /** Also when a resumed run re-executes a step that was in flight at a crash (same execution number); the
   *  execution is then this run's own, even if it replaces one a fork inherited. */
  stepStarted(step: { id: string; type: string }, execution: number, input: unknown) {
    this.push({
      sql: `INSERT INTO "StepRun" ("id", "runId", "stepId", "stepType", "execution", "status", "input", "startedAt") VALUES (?, ?, ?, ?, ?, 'running', ?, ?)
            ON CONFLICT ("runId", "stepId", "execution") DO UPDATE SET "status" = 'running', "input" = excluded."input", "startedAt" = excluded."startedAt", "output" = NULL, "error" = NULL, "finishedAt" = NULL,
              "promptTokens" = NULL, "completionTokens" = NULL, "costUsd" = NULL, "inheritedFromRunId" = NULL`,
      params: [newStepRowId(), this.runId, step.id, step.type, execution, JSON.stringify(input ?? null), new Date()],
    });
  }

  /** A step paused for a person: the row keeps what the approver must see until the decision comes. */
  stepWaiting(step: { id: string; type: string }, execution: number, request: unknown) {
    this.push({
      sql: `UPDATE "StepRun" SET "status" = 'waiting', "output" = ? WHERE "runId" = ? AND "stepId" = ? AND "execution" = ?`,
      params: [JSON.stringify(request ?? null), this.runId, step.id, execution],
    });
  }

  /**
   * Records the end of a step execution (also one that failed before it could start). `cancelled`: its run was
   * cancelled while it was in flight or waiting.
   */
  stepFinished(
    step: { id: string; type: string },
    execution: number,
    result: { output: unknown } | { error: SerializedError },
    attempts: AttemptRecord = { attempts: 1, attemptErrors: [] },
    ended?: "succeeded" | "failed" | "cancelled",
  ) {
    this.streamed.delete(`${step.id}#${execution}`);
    this.storedTokens?.stepEnded(step.id, execution);
    const now = new Date();
    const output = "output" in result ? JSON.stringify(result.output ?? null) : null;
    const error = "error" in result ? JSON.stringify(result.error) : null;
    const attemptErrors = attempts.attemptErrors.length ? JSON.stringify(attempts.attemptErrors) : null;
    this.push({
      sql: `INSERT INTO "StepRun" ("id", "runId", "stepId", "stepType", "execution", "status", "output", "error", "startedAt", "finishedAt", "attempts", "attemptErrors") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT ("runId", "stepId", "execution") DO UPDATE SET "status" = excluded."status", "output" = excluded."output", "error" = excluded."error", "finishedAt" = excluded."finishedAt", "attempts" = excluded."attempts", "attemptErrors" = excluded."attemptErrors"`,
      params: [newStepRowId(), this.runId, step.id, step.type, execution, ended ?? (error ? "failed" : "succeeded"), output, error, now, now, attempts.attempts, attemptErrors],
    });
  }

  /** Adds one model call's tokens and cost to a step execution (a null cost leaves the known part). */
  stepUsage(stepId: string, execution: number, usage: { promptTokens: number; completionTokens: number; costUsd: number | null }) {
    this.push({
      sql: `UPDATE "StepRun" SET "promptTokens" = COALESCE("promptTokens", 0) + ?, "completionTokens" = COALESCE("completionTokens", 0) + ?,
              "costUsd" = CASE WHEN ? = 1 THEN COALESCE("costUsd", 0) + ? ELSE "costUsd" END
            WHERE "runId" = ? AND "stepId" = ? AND "execution" = ?`,
      params: [usage.promptTokens, usage.completionTokens, usage.costUsd === null ? 0 : 1, usage.costUsd ?? 0, this.runId, stepId, execution],
    });
  }

  /**
   * Another write of the run (its row) that must be stored in order with the events around it: it joins their
   * batch instead of a round trip of its own.
   */
  write(statement: SqlStatement) {
    this.push(statement);
  }

  token(stepId: string, execution: number, text: string) {
    const key = `${stepId}#${execution}`;
    const offset = this.streamed.get(key) ?? 0;
    this.streamed.set(key, offset + text.length);
    this.publisher.publishToken({ runId: this.runId, stepId, execution, text, offset });
    this.storedTokens?.token(stepId, execution, offset, text);
  }

  /** Waits until everything queued is stored; rethrows the first failed write. */
  async flush() {
    while (this.draining) await this.draining;
    if (this.failure) throw this.failure;
  }

  private push(statement: SqlStatement, after?: () => void) {
    this.queue.push({ statement, after });
    this.draining ??= this.drain();
  }

  private async drain() {
    await Promise.resolve(); // let the writes of this tick join the batch
    while (this.queue.length) {
      const batch = this.queue.splice(0);
      try {
        await this.sql.batch(batch.map((b) => b.statement));
        for (const b of batch) b.after?.();
      } catch (err) {
        this.failure ??= err;
      }
    }
    this.draining = undefined;
  }
}

/** The last stored seq of a run (the run row's lastSeq lags while it executes). */
export async function lastStoredSeq(sql: SqlConnection, runId: string): Promise<number> {
  const [row] = await sql.query<{ seq: number | null }>(`SELECT MAX("seq") AS "seq" FROM "RunEvent" WHERE "runId" = ?`, [runId]);
  return Number(row?.seq ?? 0);
}

export function parseEventRow(row: { runId: string; seq: number; payload: string; createdAt: Date }): RunEvent {
  return { ...(JSON.parse(row.payload) as RunEventBody), runId: row.runId, seq: row.seq, at: row.createdAt.toISOString() };
}
