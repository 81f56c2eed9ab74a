import type { RunnableConfig } from "@langchain/core/runnables";
import {
  BaseCheckpointSaver,
  compareWritesSortKeys,
  copyCheckpoint,
  getCheckpointId,
  maxChannelVersion,
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
  TASKS,
} from "@langchain/langgraph-checkpoint";
import type { Db } from "@/lib/db";
import { Prisma } from "@/lib/db/generated/sqlite/client";

/**
 * LangGraph checkpoint saver over the application database (SQLite or Postgres, through Prisma).
 *
 * Laid out like the official Postgres saver: a checkpoint row without channel values, one blob per
 * (channel, version) written only when that channel changed, and the pending writes of each task. With one
 * channel per step, storage grows linearly with the number of steps instead of re-storing the whole state.
 * Inserts use `ON CONFLICT`, which SQLite and Postgres spell the same way.
 */
export class PrismaCheckpointSaver extends BaseCheckpointSaver {
  constructor(
    private readonly db: Db,
    serde?: SerializerProtocol,
  ) {
    super(serde);
  }

  async getTuple(config: RunnableConfig): Promise<CheckpointTuple | undefined> {
    const threadId = config.configurable?.thread_id as string | undefined;
    if (threadId === undefined) return undefined;
    const checkpointNs = (config.configurable?.checkpoint_ns as string | undefined) ?? "";
    const checkpointId = getCheckpointId(config);
    const row = await this.db.checkpoint.findFirst({
      where: { threadId, checkpointNs, ...(checkpointId ? { checkpointId } : {}) },
      orderBy: { checkpointId: "desc" },
    });
    return row ? this.toTuple(row) : undefined;
  }

  async *list(config: RunnableConfig, options: CheckpointListOptions = {}): AsyncGenerator<CheckpointTuple> {
    const { before, filter } = options;
    let limit = options.limit;
    const configurable = config.configurable ?? {};
    const rows = await this.db.checkpoint.findMany({
      where: {
        ...(configurable.thread_id !== undefined ? { threadId: configurable.thread_id as string } : {}),
        ...(configurable.checkpoint_ns !== undefined ? { checkpointNs: configurable.checkpoint_ns as string } : {}),
        ...(configurable.checkpoint_id
          ? { checkpointId: configurable.checkpoint_id as string }
          : before?.configurable?.checkpoint_id
            ? { checkpointId: { lt: before.configurable.checkpoint_id as string } }
            : {}),
      },
      orderBy: [{ threadId: "asc" }, { checkpointNs: "asc" }, { checkpointId: "desc" }],
    });
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
    const blobs = await Promise.all(
      Object.entries(newVersions).map(async ([channel, version]) => {
        if (!(channel in values) || values[channel] === undefined) return [channel, String(version), "empty", null] as const;
        const [type, bytes] = await this.serde.dumpsTyped(values[channel]);
        return [channel, String(version), type, bytes] as const;
      }),
    );
    const [, checkpointBytes] = await this.serde.dumpsTyped({ ...rest, channel_values: {} });
    const [, metadataBytes] = await this.serde.dumpsTyped(metadata);

    const statements = [];
    if (blobs.length)
      statements.push(
        this.db.$executeRaw`INSERT INTO "CheckpointBlob" ("threadId", "checkpointNs", "channel", "version", "type", "blob") VALUES ${Prisma.join(
          blobs.map(([channel, version, type, bytes]) => Prisma.sql`(${threadId}, ${checkpointNs}, ${channel}, ${version}, ${type}, ${bytes})`),
        )} ON CONFLICT DO NOTHING`,
      );
    statements.push(
      this.db.$executeRaw`INSERT INTO "Checkpoint" ("threadId", "checkpointNs", "checkpointId", "parentCheckpointId", "checkpoint", "metadata", "createdAt")
        VALUES (${threadId}, ${checkpointNs}, ${checkpoint.id}, ${parentId}, ${checkpointBytes}, ${metadataBytes}, ${new Date()})
        ON CONFLICT ("threadId", "checkpointNs", "checkpointId") DO UPDATE SET "checkpoint" = excluded."checkpoint", "metadata" = excluded."metadata"`,
    );
    await this.db.$transaction(statements);
    return { configurable: { thread_id: threadId, checkpoint_ns: checkpointNs, checkpoint_id: checkpoint.id } };
  }

  async putWrites(config: RunnableConfig, writes: PendingWrite[], taskId: string, taskPath = ""): Promise<void> {
    const threadId = config.configurable?.thread_id as string | undefined;
    const checkpointId = config.configurable?.checkpoint_id as string | undefined;
    if (threadId === undefined) throw new Error('Failed to put writes: the config is missing "configurable.thread_id".');
    if (checkpointId === undefined) throw new Error('Failed to put writes: the config is missing "configurable.checkpoint_id".');
    const checkpointNs = (config.configurable?.checkpoint_ns as string | undefined) ?? "";
    const rows = await Promise.all(
      writes.map(async ([channel, value], i) => {
        const [type, bytes] = await this.serde.dumpsTyped(value);
        return { channel, type, bytes, idx: WRITES_IDX_MAP[channel] ?? i };
      }),
    );
    if (!rows.length) return;
    // Special writes (negative idx: errors, interrupts) replace earlier ones; regular writes are kept once.
    const overwrite = rows.some((r) => r.idx < 0);
    const values = Prisma.join(
      rows.map((r) => Prisma.sql`(${threadId}, ${checkpointNs}, ${checkpointId}, ${taskId}, ${r.idx}, ${r.channel}, ${r.type}, ${r.bytes}, ${taskPath})`),
    );
    await (overwrite
      ? this.db.$executeRaw`INSERT INTO "CheckpointWrite" ("threadId", "checkpointNs", "checkpointId", "taskId", "idx", "channel", "type", "blob", "taskPath") VALUES ${values}
          ON CONFLICT ("threadId", "checkpointNs", "checkpointId", "taskId", "idx") DO UPDATE SET "channel" = excluded."channel", "type" = excluded."type", "blob" = excluded."blob", "taskPath" = excluded."taskPath"`
      : this.db.$executeRaw`INSERT INTO "CheckpointWrite" ("threadId", "checkpointNs", "checkpointId", "taskId", "idx", "channel", "type", "blob", "taskPath") VALUES ${values}
          ON CONFLICT DO NOTHING`);
  }

  async deleteThread(threadId: string): Promise<void> {
    await this.db.$transaction([
      this.db.checkpointWrite.deleteMany({ where: { threadId } }),
      this.db.checkpointBlob.deleteMany({ where: { threadId } }),
      this.db.checkpoint.deleteMany({ where: { threadId } }),
    ]);
  }

  private async toTuple(row: {
    threadId: string;
    checkpointNs: string;
    checkpointId: string;
    parentCheckpointId: string | null;
    checkpoint: Uint8Array;
    metadata: Uint8Array;
  }): Promise<CheckpointTuple> {
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
    const rows = await this.db.checkpointBlob.findMany({
      where: { threadId, checkpointNs, OR: wanted.map(([channel, version]) => ({ channel, version: String(version) })) },
    });
    const values: Record<string, unknown> = {};
    for (const row of rows) {
      if (row.type === "empty" || row.blob === null) continue;
      values[row.channel] = await this.serde.loadsTyped(row.type, row.blob);
    }
    return values;
  }

  private async loadWrites(threadId: string, checkpointNs: string, checkpointId: string): Promise<CheckpointPendingWrite[]> {
    const rows = await this.db.checkpointWrite.findMany({ where: { threadId, checkpointNs, checkpointId } });
    rows.sort((a, b) => compareWritesSortKeys(writesSortKey(a.taskPath, a.taskId, a.idx), writesSortKey(b.taskPath, b.taskId, b.idx)));
    return Promise.all(rows.map(async (r) => [r.taskId, r.channel, await this.serde.loadsTyped(r.type, r.blob)] as CheckpointPendingWrite));
  }

  /** Checkpoints older than format v4 kept pending sends in the parent's writes. */
  private async migratePendingSends(checkpoint: Checkpoint, threadId: string, checkpointNs: string, parentId: string) {
    const rows = await this.db.checkpointWrite.findMany({ where: { threadId, checkpointNs, checkpointId: parentId, channel: TASKS } });
    rows.sort((a, b) => compareWritesSortKeys(writesSortKey(a.taskPath, a.taskId, a.idx), writesSortKey(b.taskPath, b.taskId, b.idx)));
    checkpoint.channel_values ??= {};
    checkpoint.channel_values[TASKS] = await Promise.all(rows.map((r) => this.serde.loadsTyped(r.type, r.blob)));
    checkpoint.channel_versions[TASKS] = Object.keys(checkpoint.channel_versions).length
      ? maxChannelVersion(...Object.values(checkpoint.channel_versions))
      : this.getNextVersion(undefined);
  }
}
