import type { Db } from "@/lib/db";
import type { RunEvent, RunEventBody, TokenEvent } from "@/lib/realtime/events";

/** Where live events go: Socket.IO rooms in the server, nowhere in a headless CLI process. */
export interface RunPublisher {
  publish(event: RunEvent): void;
  publishToken(event: TokenEvent): void;
}

export const silentPublisher: RunPublisher = { publish() {}, publishToken() {} };

/**
 * The ordered event log of one run. Writes go through one serial chain so rows land in seq order even when
 * parallel steps report at once; each event is broadcast only after it is stored, so a client that reads the
 * log and then follows the room never sees a gap.
 */
export class RunEventLog {
  private chain: Promise<unknown> = Promise.resolve();
  private failure: unknown;

  constructor(
    private readonly db: Db,
    private readonly publisher: RunPublisher,
    readonly runId: string,
    private seq: number,
  ) {}

  get lastSeq() {
    return this.seq;
  }

  /** Queues a database write (step rows etc.) in order with the events. */
  enqueue(write: () => Promise<unknown>): Promise<void> {
    const next = this.chain.then(write).catch((err) => {
      this.failure ??= err;
    });
    this.chain = next;
    return next.then(() => undefined);
  }

  emit(body: RunEventBody): Promise<void> {
    const event = { ...body, runId: this.runId, seq: ++this.seq, at: new Date().toISOString() } as RunEvent;
    return this.enqueue(async () => {
      await this.db.runEvent.create({
        data: {
          runId: this.runId,
          seq: event.seq,
          type: event.type,
          stepId: "stepId" in event ? event.stepId : null,
          payload: JSON.stringify(body),
          createdAt: new Date(event.at),
        },
      });
      this.publisher.publish(event);
    });
  }

  token(stepId: string, execution: number, text: string) {
    this.publisher.publishToken({ runId: this.runId, stepId, execution, text });
  }

  /** Waits for every queued write; rethrows the first write that failed. */
  async flush() {
    await this.chain;
    if (this.failure) throw this.failure;
  }
}

export function parseEventRow(row: { runId: string; seq: number; payload: string; createdAt: Date }): RunEvent {
  return { ...(JSON.parse(row.payload) as RunEventBody), runId: row.runId, seq: row.seq, at: row.createdAt.toISOString() };
}
