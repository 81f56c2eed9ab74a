import type { RunnableConfig } from "@langchain/core/runnables";
import {
  BaseCheckpointSaver,
  compareWritesSortKeys,
  copyCheckpoint,
  getCheckpointId,
  maxChannelVersion,
  TASKS,
  WRITES_IDX_MAP,
  writesSortKey,
  type ChannelVersions,
  type Checkpoint,
  type CheckpointListOptions,
  type CheckpointMetadata,
  type CheckpointPendingWrite,
  type CheckpointTuple,
  type PendingWrite,
  type SerializerProtocol,
} from "@langchain/langgraph-checkpoint";
import type { SqlConnection, SqlStatement } from "@/lib/db/sql";

/**
 * LangGraph checkpoint saver over the application database (SQLite or Postgres; tables from prisma/schema.prisma).
 *
 * Laid out like the official Postgres saver: a checkpoint row without channel values, one blob per
 * (channel, version) written only when that channel changed, and the pending writes of each task. With one
 * channel per step, the state a step adds is stored once instead of in every later checkpoint. It talks SQL
 * directly (not through the ORM) because it runs after every superstep.
 */

interface CheckpointRow {
  threadId: string;
  checkpointNs: string;
  checkpointId: string;
  parentCheckpointId: string | null;
  checkpoint: Uint8Array;
  metadata: Uint8Array;
}

interface WriteRow {
  taskId: string;
  idx: number;
  channel: string;
  type: string;
  blob: Uint8Array;
  taskPath: string;
}

/** better-sqlite3 binds Buffers, not bare Uint8Arrays; pg takes both. */
const bytes = (u: Uint8Array | string) => (typeof u === "string" ? Buffer.from(u) : Buffer.from(u.buffer, u.byteOffset, u.byteLength));

const sortWrites = (rows: WriteRow[]) =>
  rows.sort((a, b) => compareWritesSortKeys(writesSortKey(a.taskPath, a.taskId, Number(a.idx)), writesSortKey(b.taskPath, b.taskId, Number(b.idx))));

const CHECKPOINT_COLUMNS = `"threadId", "checkpointNs", "checkpointId", "parentCheckpointId", "checkpoint", "metadata"`;
const WRITE_COLUMNS = `"threadId", "checkpointNs", "checkpointId", "taskId", "idx", "channel", "type", "blob", "taskPath"`;

export class SqlCheckpointSaver extends BaseCheckpointSaver {
  constructor(
    private readonly sql: SqlConnection,
    serde?: SerializerProtocol,
  ) {
    super(serde);
  }

  async getTuple(config: RunnableConfig): Promise<CheckpointTuple | undefined> {
    const threadId = config.configurable?.thread_id as string | undefined;
    if (threadId === undefined) return undefined;
    const checkpointNs = (config.configurable?.checkpoint_ns as string | undefined) ?? "";
    const checkpointId = getCheckpointId(config);
    const [row] = checkpointId
      ? await this.sql.query<CheckpointRow>(
          `SELECT ${CHECKPOINT_COLUMNS} FROM "Checkpoint" WHERE "threadId" = ? AND "checkpointNs" = ? AND "checkpointId" = ?`,
          [threadId, checkpointNs, checkpointId],
        )
      : await this.sql.query<CheckpointRow>(
          `SELECT ${CHECKPOINT_COLUMNS} FROM "Checkpoint" WHERE "threadId" = ? AND "checkpointNs" = ? ORDER BY "checkpointId" DESC LIMIT 1`,
          [threadId, checkpointNs],
        );
    return row ? this.toTuple(row) : undefined;
  }

  async *list(config: RunnableConfig, options: CheckpointListOptions = {}): AsyncGenerator<CheckpointTuple> {
    const { before, filter } = options;
    let limit = options.limit;
    const configurable = config.configurable ?? {};
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (clause: string, value: unknown) => {
      where.push(clause);
      params.push(value);
    };
    if (configurable.thread_id !== undefined) add(`"threadId" = ?`, configurable.thread_id);
    if (configurable.checkpoint_ns !== undefined) add(`"checkpointNs" = ?`, configurable.checkpoint_ns);
    if (configurable.checkpoint_id) add(`"checkpointId" = ?`, configurable.checkpoint_id);
    else if (before?.configurable?.checkpoint_id) add(`"checkpointId" < ?`, before.configurable.checkpoint_id);
    const rows = await this.sql.query<CheckpointRow>(
      `SELECT ${CHECKPOINT_COLUMNS} FROM "Checkpoint" ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY "threadId", "checkpointNs", "checkpointId" DESC`,
      params,
    );
    for (const row of rows) {
      if (limit !== undefined && limit <= 0) break;
      if (filter) {
        const metadata = (await this.serde.loadsTyped("json", row.metadata)) as Record<string, unknown>;
        if (!Object.entries(filter).every(([key, value]) => metadata?.[key] === value)) continue;
      }
      if (limit !== undefined) limit -= 1;
      yield await this.toTuple(row);
    }
  }

  async put(config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata, newVersions: ChannelVersions): Promise<RunnableConfig> {
    const threadId = config.configurable?.thread_id as string | undefined;
    if (threadId === undefined) throw new Error('Failed to put checkpoint: the config is missing "configurable.thread_id".');
    const checkpointNs = (config.configurable?.checkpoint_ns as string | undefined) ?? "";
    const parentId = (config.configurable?.checkpoint_id as string | undefined) ?? null;

    const { channel_values: values, ...rest } = copyCheckpoint(checkpoint);
    const statements: SqlStatement[] = [];
    for (const [channel, version] of Object.entries(newVersions)) {
      // A channel that became empty needs no row: a version without a blob reads back as empty.
      if (!(channel in values) || values[channel] === undefined) continue;
      const [type, blob] = await this.serde.dumpsTyped(values[channel]);
      statements.push({
        sql: `INSERT INTO "CheckpointBlob" ("threadId", "checkpointNs", "channel", "version", "type", "blob") VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
        params: [threadId, checkpointNs, channel, String(version), type, bytes(blob)],
      });
    }
    const [, checkpointBytes] = await this.serde.dumpsTyped({ ...rest, channel_values: {} });
    const [, metadataBytes] = await this.serde.dumpsTyped(metadata);
    statements.push({
      sql: `INSERT INTO "Checkpoint" (${CHECKPOINT_COLUMNS}, "createdAt") VALUES (?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT ("threadId", "checkpointNs", "checkpointId") DO UPDATE SET "checkpoint" = excluded."checkpoint", "metadata" = excluded."metadata"`,
      params: [threadId, checkpointNs, checkpoint.id, parentId, bytes(checkpointBytes), bytes(metadataBytes), new Date()],
    });
    await this.sql.batch(statements);
    return { configurable: { thread_id: threadId, checkpoint_ns: checkpointNs, checkpoint_id: checkpoint.id } };
  }

  async putWrites(config: RunnableConfig, writes: PendingWrite[], taskId: string, taskPath = ""): Promise<void> {
    const threadId = config.configurable?.thread_id as string | undefined;
    const checkpointId = config.configurable?.checkpoint_id as string | undefined;
    if (threadId === undefined) throw new Error('Failed to put writes: the config is missing "configurable.thread_id".');
    if (checkpointId === undefined) throw new Error('Failed to put writes: the config is missing "configurable.checkpoint_id".');
    const checkpointNs = (config.configurable?.checkpoint_ns as string | undefined) ?? "";
    const statements: SqlStatement[] = [];
    for (const [i, [channel, value]] of writes.entries()) {
      const idx = WRITES_IDX_MAP[channel] ?? i;
      const [type, blob] = await this.serde.dumpsTyped(value);
      // Special writes (negative idx: errors, interrupts) replace earlier ones; regular writes are kept once.
      const onConflict =
        idx < 0
          ? `ON CONFLICT ("threadId", "checkpointNs", "checkpointId", "taskId", "idx") DO UPDATE SET "channel" = excluded."channel", "type" = excluded."type", "blob" = excluded."blob", "taskPath" = excluded."taskPath"`
          : "ON CONFLICT DO NOTHING";
      statements.push({
        sql: `INSERT INTO "CheckpointWrite" (${WRITE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ${onConflict}`,
        params: [threadId, checkpointNs, checkpointId, taskId, idx, channel, type, bytes(blob), taskPath],
      });
    }
    await this.sql.batch(statements);
  }

  async deleteThread(threadId: string): Promise<void> {
    await this.sql.batch(
      ["CheckpointWrite", "CheckpointBlob", "Checkpoint"].map((table) => ({ sql: `DELETE FROM "${table}" WHERE "threadId" = ?`, params: [threadId] })),
    );
  }

  private async toTuple(row: CheckpointRow): Promise<CheckpointTuple> {
    const checkpoint = (await this.serde.loadsTyped("json", row.checkpoint)) as Checkpoint;
    checkpoint.channel_values = await this.loadChannelValues(row.threadId, row.checkpointNs, checkpoint.channel_versions);
    if (checkpoint.v < 4 && row.parentCheckpointId) await this.migratePendingSends(checkpoint, row.threadId, row.checkpointNs, row.parentCheckpointId);
    const tuple: CheckpointTuple = {
      config: { configurable: { thread_id: row.threadId, checkpoint_ns: row.checkpointNs, checkpoint_id: row.checkpointId } },
      checkpoint,
      metadata: (await this.serde.loadsTyped("json", row.metadata)) as CheckpointMetadata,
      pendingWrites: await this.loadWrites(row.threadId, row.checkpointNs, row.checkpointId),
    };
    if (row.parentCheckpointId)
      tuple.parentConfig = { configurable: { thread_id: row.threadId, checkpoint_ns: row.checkpointNs, checkpoint_id: row.parentCheckpointId } };
    return tuple;
  }

  private async loadChannelValues(threadId: string, checkpointNs: string, versions: ChannelVersions) {
    const wanted = Object.entries(versions ?? {});
    if (!wanted.length) return {};
    const rows = await this.sql.query<{ channel: string; version: string; type: string; blob: Uint8Array | null }>(
      `SELECT "channel", "version", "type", "blob" FROM "CheckpointBlob" WHERE "threadId" = ? AND "checkpointNs" = ? AND "channel" IN (${wanted.map(() => "?").join(", ")})`,
      [threadId, checkpointNs, ...wanted.map(([channel]) => channel)],
    );
    const versionOf = new Map(wanted.map(([channel, version]) => [channel, String(version)]));
    const values: Record<string, unknown> = {};
    for (const row of rows) {
      if (versionOf.get(row.channel) !== row.version || row.type === "empty" || row.blob === null) continue;
      values[row.channel] = await this.serde.loadsTyped(row.type, row.blob);
    }
    return values;
  }

  private async loadWrites(threadId: string, checkpointNs: string, checkpointId: string): Promise<CheckpointPendingWrite[]> {
    const rows = await this.sql.query<WriteRow>(
      `SELECT "taskId", "idx", "channel", "type", "blob", "taskPath" FROM "CheckpointWrite" WHERE "threadId" = ? AND "checkpointNs" = ? AND "checkpointId" = ?`,
      [threadId, checkpointNs, checkpointId],
    );
    return Promise.all(sortWrites(rows).map(async (r) => [r.taskId, r.channel, await this.serde.loadsTyped(r.type, r.blob)] as CheckpointPendingWrite));
  }

  /** Checkpoints older than format v4 kept pending sends in the parent's writes. */
  private async migratePendingSends(checkpoint: Checkpoint, threadId: string, checkpointNs: string, parentId: string) {
    const rows = await this.sql.query<WriteRow>(
      `SELECT "taskId", "idx", "channel", "type", "blob", "taskPath" FROM "CheckpointWrite" WHERE "threadId" = ? AND "checkpointNs" = ? AND "checkpointId" = ? AND "channel" = ?`,
      [threadId, checkpointNs, parentId, TASKS],
    );
    checkpoint.channel_values ??= {};
    checkpoint.channel_values[TASKS] = await Promise.all(sortWrites(rows).map((r) => this.serde.loadsTyped(r.type, r.blob)));
    checkpoint.channel_versions[TASKS] = Object.keys(checkpoint.channel_versions).length
      ? maxChannelVersion(...Object.values(checkpoint.channel_versions))
      : this.getNextVersion(undefined);
  }
}
