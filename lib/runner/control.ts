import type { SqlCheckpointSaver } from "@/lib/checkpoint/sql-saver";
import type { Db } from "@/lib/db";
import type { Prisma } from "@/lib/db/generated/sqlite/client";
import type { SqlConnection } from "@/lib/db/sql";
import type { RunStatus } from "@/lib/runner/event-types";
import type { RunPublisher } from "./events";

/**
 * What the modules that restart runs (time travel, decisions) need of the runner: its services and its queue.
 * The runner stays the one place that leases and executes runs.
 */
export interface RunControl {
  readonly deps: { db: Db; sql: SqlConnection; checkpointer: SqlCheckpointSaver; publisher: RunPublisher };
  /** The lease owner id of this process. */
  readonly processId: string;
  /** When a lease taken now expires. */
  leaseUntil(): Date;
  /**
   * Puts an ended or waiting run back in the queue under this process's lease; throws if it changed meanwhile
   * (its status is not one of `from`, or it no longer matches `also`).
   */
  requeue(runId: string, from: RunStatus[], data?: RequeueData, also?: Prisma.RunWhereInput): Promise<void>;
  /** Executes a run this process holds. */
  schedule(runId: string): void;
}

/** What a requeue may change besides putting the run back in the queue. */
export type RequeueData = Pick<Prisma.RunUpdateManyMutationInput, "definition" | "workflowVersion" | "resumeValue" | "resumeCount" | "resumedAt">;

/** A resume by hand (from the failed step, or from a checkpoint): counted on the run, which keeps its id and trigger. */
export const resumedByHand = () => ({ resumeCount: { increment: 1 }, resumedAt: new Date() }) satisfies RequeueData;
