import { randomUUID } from "node:crypto";
import type { BaseCheckpointSaver } from "@langchain/langgraph";
import type { Db } from "@/lib/db";
import type { SqlConnection } from "@/lib/db/sql";
import { InvalidRunError, OrchestratorError } from "@/lib/engine/errors";
import { validateRunInput } from "@/lib/workflow/input";
import { validateWorkflow } from "@/lib/workflow/validate";
import { RunEventLog, silentPublisher, type RunPublisher } from "./events";
import { RunQueue } from "./queue";
import { executeRun, failRun, type RunResult } from "./run";

export interface StartRunOptions {
  definition: unknown;
  input?: unknown;
  ownerId: string;
  workflowVersion?: number;
  source?: "web" | "cli" | "api";
}

export interface RunnerOptions {
  db: Db;
  sql: SqlConnection;
  checkpointer: BaseCheckpointSaver;
  publisher?: RunPublisher;
  concurrency: number;
}

/** Accepts runs, queues them and executes them in this process. */
export class Runner {
  private readonly queue: RunQueue;
  private readonly finished = new Map<string, Promise<RunResult>>();
  publisher: RunPublisher;

  constructor(private readonly options: RunnerOptions) {
    this.queue = new RunQueue(options.concurrency);
    this.publisher = options.publisher ?? silentPublisher;
  }

  /** Validates definition and input, stores the queued run and schedules it. Throws InvalidRunError. */
  async startRun(options: StartRunOptions): Promise<{ runId: string }> {
    const { definition, issues } = validateWorkflow(options.definition);
    if (!definition || issues.length) throw new InvalidRunError("INVALID_DEFINITION", issues);
    const checked = validateRunInput(definition, options.input);
    if (checked.issues.length) throw new InvalidRunError("INVALID_INPUT", checked.issues);

    const { db } = this.options;
    const runId = `run_${randomUUID().replace(/-/g, "").slice(0, 20)}`;
    await db.run.create({
      data: {
        id: runId,
        ownerId: options.ownerId,
        workflowId: definition.id,
        workflowName: definition.name,
        workflowVersion: options.workflowVersion ?? null,
        definition: JSON.stringify(definition),
        input: JSON.stringify(checked.input),
        status: "queued",
        source: options.source ?? "api",
      },
    });
    const log = new RunEventLog(this.options.sql, this.publisher, runId, 0);
    log.emit({ type: "run.status", status: "queued" });
    await log.flush();
    await db.run.update({ where: { id: runId }, data: { lastSeq: log.lastSeq } });
    const deps = { db, sql: this.options.sql, checkpointer: this.options.checkpointer, publisher: this.publisher };
    const done = this.queue.enqueue(() => executeRun(deps, runId).catch((err) => failRun(deps, runId, err)));
    this.finished.set(runId, done);
    void done.finally(() => setTimeout(() => this.finished.delete(runId), 60_000).unref());
    return { runId };
  }

  /** Resolves when a run started by this process ends. */
  async waitForRun(runId: string): Promise<RunResult> {
    const done = this.finished.get(runId);
    if (!done) throw new OrchestratorError("INTERNAL", `run ${runId} is not executing in this process`);
    return done;
  }

  async runToCompletion(options: StartRunOptions): Promise<RunResult> {
    const { runId } = await this.startRun(options);
    return this.waitForRun(runId);
  }

  /** Waits for every run this process is executing (graceful shutdown, CLI exit). */
  async drain() {
    await Promise.allSettled([...this.finished.values()]);
  }
}
