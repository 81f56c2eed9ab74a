import { SqlCheckpointSaver } from "@/lib/checkpoint/sql-saver";
import { runConcurrency } from "@/lib/config";
import { createAuth, type Auth } from "@/lib/auth/auth";
import { ensureOwner } from "@/lib/auth/users";
import { closeDb, databaseUrl, getDb, type Db } from "@/lib/db";
import { openSql, type SqlConnection } from "@/lib/db/sql";
import type { RunPublisher } from "@/lib/runner/events";
import { Runner } from "@/lib/runner/runner";
import { expressionWorkers } from "@/lib/engine/expressions/pool";
import { RUNTIME_KEY } from "@/lib/runtime-key";
import { flushTracing } from "@/lib/observability/tracing";
import { executionMode, queueConfig } from "@/lib/queue/config";
import { RunQueueClient } from "@/lib/queue/bullmq";
import { observeSharedQueue } from "@/lib/observability/metrics-state";
import { ScheduleQueueClient } from "@/lib/queue/schedules";
import { scheduleConfig } from "@/lib/schedules/config";

/**
 * The process-wide services: database, runner and the current user. Kept on globalThis because Next bundles
 * server actions separately from server.ts; both must reach the same runner and database client.
 */
export interface Runtime {
  db: Db;
  /** Direct SQL for the hot paths (checkpoints, event log). */
  sql: SqlConnection;
  checkpointer: SqlCheckpointSaver;
  runner: Runner;
  /** The owner: who the CLI and the TypeScript API act as unless told otherwise (`--user`, `{ userId }`). */
  userId: string;
  /** Sign-in and sessions (Better Auth); requests are authenticated by lib/auth/request.ts. */
  auth: Auth;
  /** Queue mode (EXECUTION_MODE=queue): the BullMQ queue runs are handed to; absent inline. */
  queue?: RunQueueClient;
  /** Queue mode: the job schedulers of schedules (lib/queue/schedules.ts); absent inline. */
  schedules?: ScheduleQueueClient;
}

const KEY = RUNTIME_KEY;
type Holder = { [KEY]?: Promise<Runtime> };

export function getRuntime(options: { publisher?: RunPublisher } = {}): Promise<Runtime> {
  const holder = globalThis as Holder;
  holder[KEY] ??= (async () => {
    // Created here, in the module graph of whoever starts the process (server.ts, CLI), so that its worker file
    // resolves from the sources; the Next bundle finds the same instance on globalThis.
    // Queue mode's settings are checked before anything starts: a missing REDIS_URL or a SQLite database stops it here.
    const queue = executionMode() === "queue" ? new RunQueueClient(queueConfig()) : undefined;
    const schedules = queue ? new ScheduleQueueClient(queue.config, queue.connection, scheduleConfig().minuteMs) : undefined;
    expressionWorkers();
    const db = await getDb(); // migrates first
    const sql = openSql(databaseUrl());
    const userId = await ensureOwner(db);
    const auth = createAuth(db);
    const checkpointer = new SqlCheckpointSaver(sql);
    const runner = new Runner({ db, sql, checkpointer, publisher: options.publisher, concurrency: queue?.config.concurrency ?? runConcurrency(), dispatch: queue });
    observeSharedQueue(queue); // /metrics: BullMQ's depth and workers in queue mode
    return { db, sql, checkpointer, runner, userId, auth, queue, schedules };
  })();
  return holder[KEY].then((runtime) => {
    if (options.publisher) runtime.runner.publisher = options.publisher;
    return runtime;
  });
}

/** Lets running work finish, then closes the database (CLI exit, tests). */
export async function shutdownRuntime() {
  const holder = globalThis as Holder;
  const runtime = await holder[KEY]?.catch(() => undefined);
  delete holder[KEY];
  if (!runtime) return closeDb();
  await runtime.runner.drain();
  observeSharedQueue(undefined);
  await runtime.schedules?.close();
  await runtime.queue?.close();
  await flushTracing(); // spans of the runs this process ended (the CLI exits next)
  await expressionWorkers().close();
  await runtime.sql.close();
  await closeDb();
}

