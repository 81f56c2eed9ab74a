import type { RunnableConfig } from "@langchain/core/runnables";
import {
  BaseCheckpointSaver,
  compareWritesSortKeys,
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
  type DeltaChannelHistory,
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
 *
 * The checkpoint row's own bookkeeping (channel_versions, versions_seen) covers every channel and node of the
 * graph, so it is stored as a delta against the parent checkpoint. A full snapshot is written when the deltas
 * since the last one add up to its size (so snapshots never cost more than the deltas: storage per step stays
 * constant however long the run gets), and whenever the parent is not the checkpoint this process wrote last.
 * Reading rebuilds a checkpoint from the nearest snapshot.
 *
 * Reads do not wait for other threads' pending writes (`queryCommitted`): every write of a thread is awaited by
 * its writer (LangGraph awaits its puts before a run goes on or ends), so nothing pending concerns the reader.
 */

const MAX_CACHED_THREADS = 1000;
/** How many older checkpoints one query reads while looking for a delta's base. */
const REBUILD_WINDOW = 128;

/** Checkpoints one read has decoded (as stored) and rebuilt (full maps), by id. */
interface RebuildCache {
  stored: Map<string, StoredCheckpoint>;
  full: Map<string, Checkpoint>;
}
const newRebuildCache = (): RebuildCache => ({ stored: new Map(), full: new Map() });

type Versions = Checkpoint["channel_versions"];
type Seen = Checkpoint["versions_seen"];

/** What a delta row stores instead of the full maps (removed keys listed separately). */
interface CheckpointDelta {
  base: string;
  channelVersions: Versions;
  removedChannels: string[];
  versionsSeen: Seen;
  removedNodes: string[];
}

type StoredCheckpoint = Omit<Checkpoint, "channel_versions" | "versions_seen"> &
  ({ channel_versions: Versions; versions_seen: Seen; delta?: undefined } | { delta: CheckpointDelta; channel_versions?: undefined; versions_seen?: undefined });

/** The full maps of the last checkpoint this process wrote for a thread: the base of the next delta. */
interface LastWritten {
  id: string;
  /** Size of the last snapshot, and of the deltas written since (JSON characters). */
  snapshotSize: number;
  deltaSize: number;
  channelVersions: Versions;
  versionsSeen: Seen;
}

/** Same keys and values (for-in loops: this runs for every node of the graph at every step). */
const sameVersions = (a: Record<string, unknown> | undefined, b: Record<string, unknown>) => {
  if (!a) return false;
  let count = 0;
  for (const k in b) {
    if (a[k] !== b[k]) return false;
    count++;
  }
  for (const _ in a) count--;
  return count === 0;
};

/**
 * The delta of a checkpoint against its parent as last written here. Channel versions only grow, and LangGraph
 * names the channels whose version changed since the parent (`newVersions`, which also decides which blobs are
 * written), so only those are compared instead of every channel of the graph at every step. When a channel
 * disappeared (the key counts disagree) every channel is compared.
 */
function diff(base: LastWritten, checkpoint: Checkpoint, newVersions: ChannelVersions): CheckpointDelta {
  const channelVersions: Versions = {};
  let added = 0;
  for (const channel of Object.keys(newVersions)) {
    const version = checkpoint.channel_versions[channel];
    if (version === undefined) continue;
    if (!(channel in base.channelVersions)) added++;
    if (base.channelVersions[channel] !== version) channelVersions[channel] = version;
  }
  const sameChannels = Object.keys(base.channelVersions).length + added === Object.keys(checkpoint.channel_versions).length;
  const versionsSeen: Seen = {};
  let nodes = 0;
  for (const node in checkpoint.versions_seen) {
    nodes++;
    const seen = checkpoint.versions_seen[node];
    if (!sameVersions(base.versionsSeen[node], seen)) versionsSeen[node] = { ...seen };
  }
  let baseNodes = 0;
  for (const _ in base.versionsSeen) baseNodes++;
  const sameNodes = baseNodes + Object.keys(versionsSeen).filter((n) => !(n in base.versionsSeen)).length === nodes;
  if (!sameChannels)
    for (const [channel, version] of Object.entries(checkpoint.channel_versions))
      if (base.channelVersions[channel] !== version) channelVersions[channel] = version;
  return {
    base: base.id,
    channelVersions,
    removedChannels: sameChannels ? [] : Object.keys(base.channelVersions).filter((c) => !(c in checkpoint.channel_versions)),
    versionsSeen,
    removedNodes: sameNodes ? [] : Object.keys(base.versionsSeen).filter((n) => !(n in checkpoint.versions_seen)),
  };
}

function applyDelta(base: Checkpoint, delta: CheckpointDelta): Pick<Checkpoint, "channel_versions" | "versions_seen"> {
  const channel_versions = { ...base.channel_versions, ...delta.channelVersions };
  for (const channel of delta.removedChannels) delete channel_versions[channel];
  const versions_seen = { ...base.versions_seen, ...delta.versionsSeen };
  for (const node of delta.removedNodes) delete versions_seen[node];
  return { channel_versions, versions_seen };
}

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

export interface CheckpointHistoryEntry {
  checkpointId: string;
  parentCheckpointId: string | null;
  createdAt: Date;
  metadata: CheckpointMetadata;
  channelVersions: ChannelVersions;
}

export class SqlCheckpointSaver extends BaseCheckpointSaver {
  private readonly lastWritten = new Map<string, LastWritten>();

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
      ? await this.sql.queryCommitted<CheckpointRow>(
          `SELECT ${CHECKPOINT_COLUMNS} FROM "Checkpoint" WHERE "threadId" = ? AND "checkpointNs" = ? AND "checkpointId" = ?`,
          [threadId, checkpointNs, checkpointId],
        )
      : await this.sql.queryCommitted<CheckpointRow>(
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
    const rows = await this.sql.queryCommitted<CheckpointRow>(
      `SELECT ${CHECKPOINT_COLUMNS} FROM "Checkpoint" ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY "threadId", "checkpointNs", "checkpointId" DESC`,
      params,
    );
    const known = newRebuildCache();
    for (const row of rows) {
      if (limit !== undefined && limit <= 0) break;
      if (filter) {
        const metadata = (await this.serde.loadsTyped("json", row.metadata)) as Record<string, unknown>;
        if (!Object.entries(filter).every(([key, value]) => metadata?.[key] === value)) continue;
      }
      if (limit !== undefined) limit -= 1;
      yield await this.toTuple(row, known);
    }
  }

  /**
   * A thread's checkpoints, newest first, without channel values (cheap for the checkpoint browser): id,
   * parent, time, metadata and the channel versions, whose changes against the parent say what each step wrote.
   */
  async history(threadId: string, checkpointNs = ""): Promise<CheckpointHistoryEntry[]> {
    const rows = await this.sql.queryCommitted<CheckpointRow & { createdAt: Date | string }>(
      `SELECT ${CHECKPOINT_COLUMNS}, "createdAt" FROM "Checkpoint" WHERE "threadId" = ? AND "checkpointNs" = ? ORDER BY "checkpointId" DESC`,
      [threadId, checkpointNs],
    );
    const known = newRebuildCache();
    for (const row of rows) known.stored.set(row.checkpointId, await this.decode(row.checkpoint));
    const entries: CheckpointHistoryEntry[] = [];
    for (const row of rows) {
      const checkpoint = await this.fullCheckpoint(row, known);
      entries.push({
        checkpointId: row.checkpointId,
        parentCheckpointId: row.parentCheckpointId,
        createdAt: new Date(checkpoint.ts || row.createdAt),
        metadata: (await this.serde.loadsTyped("json", row.metadata)) as CheckpointMetadata,
        channelVersions: checkpoint.channel_versions,
      });
    }
    return entries;
  }

  /**
   * Channel versions are numbers: the next whole number plus a random fraction. With plain counters two branches of
   * a thread (a resume from an earlier checkpoint) give the same (channel, version) to different values, and a value
   * is stored once per pair, so the new branch read the old branch's value (its pending Sends, a step's output).
   * Numbers, not the official savers' strings, so the whole numbers of checkpoints stored before compare the same.
   */
  getNextVersion(current: number | undefined): number {
    return Math.floor(typeof current === "number" ? current : 0) + 1 + Math.random();
  }

  /** Every stored value of one channel of a thread, by version (the checkpoint browser reads the schedules). */
  async channelValues(threadId: string, channel: string, checkpointNs = ""): Promise<Map<string, unknown>> {
    const rows = await this.sql.query<{ version: string; type: string; blob: Uint8Array | null }>(
      `SELECT "version", "type", "blob" FROM "CheckpointBlob" WHERE "threadId" = ? AND "checkpointNs" = ? AND "channel" = ?`,
      [threadId, checkpointNs, channel],
    );
    const values = new Map<string, unknown>();
    for (const row of rows) if (row.type !== "empty" && row.blob !== null) values.set(String(row.version), await this.serde.loadsTyped(row.type, row.blob));
    return values;
  }

  /**
   * What LangGraph needs to rebuild a DeltaChannel (a channel whose checkpoints store only the writes of each
   * superstep) at a checkpoint: per channel, the writes of the ancestors since the nearest one that stored a value
   * for it (its `seed`), oldest first. Same contract as the base class, which walks the ancestors with one
   * `getTuple` each (several queries per step of the run); here it is four queries for the whole walk: the thread's
   * checkpoint rows up to the target, the stored values of the channels, their writes.
   */
  async getDeltaChannelHistory(options: { config: RunnableConfig; channels: string[] }): Promise<Record<string, DeltaChannelHistory>> {
    const { config, channels } = options;
    if (!channels.length) return {};
    const threadId = config.configurable?.thread_id as string | undefined;
    if (threadId === undefined) throw new Error('Failed to read delta channel history: the config is missing "configurable.thread_id".');
    const checkpointNs = (config.configurable?.checkpoint_ns as string | undefined) ?? "";
    const targetId = getCheckpointId(config);
    const rows = await this.sql.query<CheckpointRow>(
      `SELECT ${CHECKPOINT_COLUMNS} FROM "Checkpoint" WHERE "threadId" = ? AND "checkpointNs" = ?${targetId ? ` AND "checkpointId" <= ?` : ""} ORDER BY "checkpointId" DESC`,
      targetId ? [threadId, checkpointNs, targetId] : [threadId, checkpointNs],
    );
    const byId = new Map(rows.map((row) => [row.checkpointId, row]));
    const path: CheckpointRow[] = [];
    for (let id = byId.get(targetId ?? rows[0]?.checkpointId ?? "")?.parentCheckpointId; id && byId.has(id); id = byId.get(id)!.parentCheckpointId) path.push(byId.get(id)!);
    const result: Record<string, DeltaChannelHistory> = Object.fromEntries(channels.map((channel) => [channel, { writes: [] }]));
    if (!path.length) return result;

    const marks = channels.map(() => "?").join(", ");
    const blobs = new Map<string, { type: string; blob: Uint8Array | null }>();
    for (const row of await this.sql.query<{ channel: string; version: string; type: string; blob: Uint8Array | null }>(
      `SELECT "channel", "version", "type", "blob" FROM "CheckpointBlob" WHERE "threadId" = ? AND "checkpointNs" = ? AND "channel" IN (${marks})`,
      [threadId, checkpointNs, ...channels],
    ))
      blobs.set(`${row.channel}\u0000${row.version}`, row);
    const writesOf = new Map<string, Array<WriteRow & { checkpointId: string }>>();
    for (const row of await this.sql.query<WriteRow & { checkpointId: string }>(
      `SELECT "checkpointId", "taskId", "idx", "channel", "type", "blob", "taskPath" FROM "CheckpointWrite" WHERE "threadId" = ? AND "checkpointNs" = ? AND "channel" IN (${marks})`,
      [threadId, checkpointNs, ...channels],
    )) {
      const list = writesOf.get(row.checkpointId) ?? [];
      list.push(row);
      writesOf.set(row.checkpointId, list);
    }

    // Nearest ancestor first; each one's writes in the order LangGraph applies them.
    const known = newRebuildCache();
    const remaining = new Set(channels);
    const blocks = new Map<string, CheckpointPendingWrite[][]>(channels.map((channel) => [channel, []]));
    for (const ancestor of path) {
      if (!remaining.size) break;
      const stepWrites = sortWrites(writesOf.get(ancestor.checkpointId) ?? []);
      for (const channel of remaining) {
        const own = stepWrites.filter((w) => w.channel === channel);
        if (own.length) blocks.get(channel)!.push(await Promise.all(own.map(async (w) => [w.taskId, w.channel, await this.serde.loadsTyped(w.type, w.blob)] as CheckpointPendingWrite)));
      }
      // Decode the rows this checkpoint's delta chain needs, from the rows already read (older ones only if the walk gets there).
      for (let id: string | undefined = ancestor.checkpointId; id && byId.has(id) && !known.full.has(id); ) {
        if (!known.stored.has(id)) known.stored.set(id, await this.decode(byId.get(id)!.checkpoint));
        id = known.stored.get(id)!.delta?.base;
      }
      const versions = (await this.fullCheckpoint(ancestor, known)).channel_versions;
      for (const channel of [...remaining]) {
        const stored = versions[channel] !== undefined ? blobs.get(`${channel}\u0000${versions[channel]}`) : undefined;
        if (!stored || stored.type === "empty" || stored.blob === null) continue;
        result[channel].seed = await this.serde.loadsTyped(stored.type, stored.blob);
        remaining.delete(channel);
      }
    }
    for (const channel of channels) result[channel].writes = blocks.get(channel)!.reverse().flat();
    return result;
  }

  async put(config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata, newVersions: ChannelVersions): Promise<RunnableConfig> {
    const threadId = config.configurable?.thread_id as string | undefined;
    if (threadId === undefined) throw new Error('Failed to put checkpoint: the config is missing "configurable.thread_id".');
    const checkpointNs = (config.configurable?.checkpoint_ns as string | undefined) ?? "";
    const parentId = (config.configurable?.checkpoint_id as string | undefined) ?? null;

    // Decide snapshot or delta before any await: puts of one thread arrive in order.
    const { channel_values: values, channel_versions, versions_seen, ...rest } = checkpoint;
    const threadKey = `${threadId}\u0000${checkpointNs}`;
    const base = this.lastWritten.get(threadKey);
    const delta = base !== undefined && base.id === parentId && base.deltaSize < base.snapshotSize ? diff(base, checkpoint, newVersions) : undefined;
    const stored: StoredCheckpoint = delta
      ? { ...rest, channel_values: {}, delta }
      : { ...rest, channel_values: {}, channel_versions, versions_seen };
    // The maps themselves, not copies: LangGraph hands every put a checkpoint of its own (copyCheckpoint), and
    // nothing here changes them; copying maps that cover the whole graph at every step was O(steps) each.
    this.remember(threadKey, {
      id: checkpoint.id,
      snapshotSize: delta ? base!.snapshotSize : JSON.stringify([channel_versions, versions_seen]).length,
      deltaSize: delta ? base!.deltaSize + JSON.stringify(delta).length : 0,
      channelVersions: channel_versions,
      versionsSeen: versions_seen,
    });

    const [, checkpointBytes] = await this.serde.dumpsTyped(stored);

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
    for (const key of this.lastWritten.keys()) if (key.startsWith(`${threadId}\u0000`)) this.lastWritten.delete(key);
    await this.sql.batch(
      ["CheckpointWrite", "CheckpointBlob", "Checkpoint"].map((table) => ({ sql: `DELETE FROM "${table}" WHERE "threadId" = ?`, params: [threadId] })),
    );
  }

  /**
   * Keeps only a thread's latest checkpoint (retention): rewrites it as a full snapshot under the same id, then
   * drops the older checkpoints, their writes and the blobs it does not use. Each step leaves a readable thread.
   * A DeltaChannel's value lives in the writes being dropped: the caller passes it in `values` (as a
   * DeltaSnapshot), which is stored with the kept checkpoint.
   */
  async compactThread(threadId: string, checkpointNs = "", values: Record<string, unknown> = {}): Promise<boolean> {
    const latest = await this.getTuple({ configurable: { thread_id: threadId, checkpoint_ns: checkpointNs } });
    if (!latest?.metadata) return false;
    const keep = latest.checkpoint.id;
    this.lastWritten.delete(`${threadId}\u0000${checkpointNs}`); // the rewrite must be a snapshot
    // `values`: what the caller rebuilt for channels stored as writes only (DeltaChannels), whose history goes.
    const checkpoint = { ...latest.checkpoint, channel_values: { ...latest.checkpoint.channel_values, ...values } };
    await this.put({ configurable: { thread_id: threadId, checkpoint_ns: checkpointNs } }, checkpoint, latest.metadata, latest.checkpoint.channel_versions);
    const used = new Set(Object.entries(latest.checkpoint.channel_versions).map(([channel, version]) => `${channel}\u0000${version}`));
    const blobs = await this.sql.query<{ channel: string; version: string }>(
      `SELECT "channel", "version" FROM "CheckpointBlob" WHERE "threadId" = ? AND "checkpointNs" = ?`,
      [threadId, checkpointNs],
    );
    const where = `"threadId" = ? AND "checkpointNs" = ?`;
    await this.sql.batch([
      { sql: `UPDATE "Checkpoint" SET "parentCheckpointId" = NULL WHERE ${where} AND "checkpointId" = ?`, params: [threadId, checkpointNs, keep] },
      { sql: `DELETE FROM "Checkpoint" WHERE ${where} AND "checkpointId" <> ?`, params: [threadId, checkpointNs, keep] },
      { sql: `DELETE FROM "CheckpointWrite" WHERE ${where} AND "checkpointId" <> ?`, params: [threadId, checkpointNs, keep] },
      ...blobs
        .filter((b) => !used.has(`${b.channel}\u0000${b.version}`))
        .map((b) => ({ sql: `DELETE FROM "CheckpointBlob" WHERE ${where} AND "channel" = ? AND "version" = ?`, params: [threadId, checkpointNs, b.channel, b.version] })),
    ]);
    return true;
  }

  private remember(threadKey: string, written: LastWritten) {
    this.lastWritten.delete(threadKey);
    this.lastWritten.set(threadKey, written);
    if (this.lastWritten.size > MAX_CACHED_THREADS) this.lastWritten.delete(this.lastWritten.keys().next().value!);
  }

  /**
   * The checkpoint of a row with its full maps, rebuilt from the nearest snapshot when it is a delta. `known`
   * carries what one call already decoded and rebuilt (`list`, `history` read many checkpoints of one thread,
   * which share their chains); a base that is not known yet is read with a window of older rows in one query.
   */
  private async fullCheckpoint(row: CheckpointRow, known: RebuildCache = newRebuildCache()): Promise<Checkpoint> {
    const stored = known.stored;
    if (!stored.has(row.checkpointId)) stored.set(row.checkpointId, await this.decode(row.checkpoint));
    const chain: string[] = [];
    let id = row.checkpointId;
    while (!known.full.has(id)) {
      if (!stored.has(id)) await this.readOlder(row.threadId, row.checkpointNs, id, stored);
      const current = stored.get(id);
      if (!current) throw new Error(`checkpoint ${row.checkpointId} of thread ${row.threadId} is a delta of ${id}, which is missing`);
      if (!current.delta) {
        known.full.set(id, current as Checkpoint);
        break;
      }
      chain.push(id);
      id = current.delta.base;
    }
    let full = known.full.get(id)!;
    for (const deltaId of chain.reverse()) {
      const { delta, ...rest } = stored.get(deltaId)!;
      full = { ...(rest as Omit<Checkpoint, "channel_versions" | "versions_seen">), ...applyDelta(full, delta!) };
      known.full.set(deltaId, full);
    }
    // A copy: callers fill in channel values, which must not leak into the cache.
    return { ...full };
  }

  private decode(checkpoint: Uint8Array): Promise<StoredCheckpoint> {
    return this.serde.loadsTyped("json", checkpoint) as Promise<StoredCheckpoint>;
  }

  /** Reads the checkpoint `fromId` and the ones written before it (a delta's base is always older than it). */
  private async readOlder(threadId: string, checkpointNs: string, fromId: string, into: Map<string, StoredCheckpoint>) {
    const rows = await this.sql.queryCommitted<Pick<CheckpointRow, "checkpointId" | "checkpoint">>(
      `SELECT "checkpointId", "checkpoint" FROM "Checkpoint" WHERE "threadId" = ? AND "checkpointNs" = ? AND "checkpointId" <= ? ORDER BY "checkpointId" DESC LIMIT ${REBUILD_WINDOW}`,
      [threadId, checkpointNs, fromId],
    );
    for (const row of rows) if (!into.has(row.checkpointId)) into.set(row.checkpointId, await this.decode(row.checkpoint));
  }

  private async toTuple(row: CheckpointRow, known?: RebuildCache): Promise<CheckpointTuple> {
    const checkpoint = await this.fullCheckpoint(row, known);
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
    const rows = await this.sql.queryCommitted<{ channel: string; version: string; type: string; blob: Uint8Array | null }>(
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
    const rows = await this.sql.queryCommitted<WriteRow>(
      `SELECT "taskId", "idx", "channel", "type", "blob", "taskPath" FROM "CheckpointWrite" WHERE "threadId" = ? AND "checkpointNs" = ? AND "checkpointId" = ?`,
      [threadId, checkpointNs, checkpointId],
    );
    return Promise.all(sortWrites(rows).map(async (r) => [r.taskId, r.channel, await this.serde.loadsTyped(r.type, r.blob)] as CheckpointPendingWrite));
  }

  /** Checkpoints older than format v4 kept pending sends in the parent's writes. */
  private async migratePendingSends(checkpoint: Checkpoint, threadId: string, checkpointNs: string, parentId: string) {
    const rows = await this.sql.queryCommitted<WriteRow>(
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
