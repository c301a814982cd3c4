import { closeSync, fdatasync, mkdirSync, openSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { Worker } from 'node:worker_threads';
import type { IncomingRecord } from './event-log.port';

/** What the embedded log's file needs to know about its creator's settings. */
export interface LogFileOptions {
  readonly dataDir: string;
  readonly synchronous?: 'FULL' | 'NORMAL';
}

export interface RecordRow {
  readonly partition_no: number;
  readonly offset_no: number;
  readonly key: string;
  readonly value: Uint8Array;
  readonly headers: string;
  readonly timestamp: number;
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS topics (
    name TEXT PRIMARY KEY,
    partitions INTEGER NOT NULL,
    compacted INTEGER NOT NULL,
    retention_ms INTEGER
  );
  CREATE TABLE IF NOT EXISTS records (
    topic TEXT NOT NULL,
    partition_no INTEGER NOT NULL,
    offset_no INTEGER NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    headers TEXT NOT NULL,
    timestamp INTEGER NOT NULL,
    PRIMARY KEY (topic, partition_no, offset_no)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS group_offsets (
    group_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    partition_no INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    PRIMARY KEY (group_id, topic, partition_no)
  ) WITHOUT ROWID;
`;

/** How often the write-ahead log is copied into the database file, off the event loop. */
const CHECKPOINT_INTERVAL_MS = 1_000;

/**
 * A worker thread that copies the write-ahead log into the database file every second, on a
 * connection of its own (a passive checkpoint: it waits for no reader or writer). The event loop's
 * connection never checkpoints, which would block it for the copy and a disk sync; SQLite then
 * starts the log over at the next commit once everything in it was copied.
 */
function startCheckpointer(path: string): Worker {
  const worker = new Worker(
    `const { DatabaseSync } = require('node:sqlite');
     const { workerData } = require('node:worker_threads');
     const db = new DatabaseSync(workerData.path);
     db.exec('PRAGMA busy_timeout = 5000');
     setInterval(() => {
       try { db.exec('PRAGMA wal_checkpoint(PASSIVE)'); } catch {}
     }, workerData.intervalMs);`,
    { eval: true, workerData: { path, intervalMs: CHECKPOINT_INTERVAL_MS } },
  );
  worker.unref();
  return worker;
}

/** How long a committed group position may wait in memory before it is written. */
const OFFSET_WRITE_MS = 200;

/** How many of each partition's newest records are kept in memory for subscribers. */
const TAIL_RECORDS = 5_000;

export const partitionId = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

/** Wakes waiting subscriptions; a version counter means a wake-up between check and wait is not lost. */
export class ChangeSignal {
  private version = 0;
  private readonly waiters = new Set<() => void>();

  get current(): number {
    return this.version;
  }

  notify(): void {
    this.version += 1;
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const waiter of waiters) waiter();
  }

  add(waiter: () => void): void {
    this.waiters.add(waiter);
  }

  remove(waiter: () => void): void {
    this.waiters.delete(waiter);
  }
}

/** A subscription as its group sees it: the topics it wants and the partitions it was given. */
export interface GroupMember {
  readonly topics: readonly string[];
  readonly assigned: readonly { readonly topic: string; readonly partition: number }[];
  /** Takes the partitions the group now gives this member. */
  assign(partitions: { readonly topic: string; readonly partition: number }[]): void;
}

export interface GroupState {
  readonly id: string;
  readonly members: GroupMember[];
  /** Partitions whose batch is being handled; a new owner waits until the old one has committed. */
  readonly busy: Set<string>;
  /** Committed positions by partition; `undefined` once the file said the group has none there. */
  readonly nextOffsets: Map<string, number | undefined>;
}

/**
 * Everything shared by the EmbeddedEventLog instances of one process over one file: the database,
 * the end of each partition, the consumer groups and the wake-up signal. One process per data folder.
 */
export class LogFile {
  private static readonly open = new Map<string, LogFile>();
  readonly signal = new ChangeSignal();
  readonly groups = new Map<string, GroupState>();
  private readonly partitionCounts = new Map<string, number>();
  private readonly endOffsets = new Map<string, number>();
  private handles = 0;
  private readonly statements = new Map<string, StatementSync>();
  private readonly tails = new Map<string, { first: number; records: IncomingRecord[] }>();
  /** Partition ends readers see: moved once a commit is synced. */
  private readonly readableEnds = new Map<string, number>();
  private unsynced: {
    readonly records: readonly IncomingRecord[];
    readonly ends: readonly { readonly topic: string; readonly partition: number; readonly end: number }[];
    readonly settle: (error?: Error) => void;
  }[] = [];
  private syncing = false;
  private afterSync: (() => void)[] = [];
  private walDescriptor: number | undefined;
  private checkpointer: Worker | undefined;
  private readonly unwrittenOffsets = new Map<
    string,
    {
      readonly groupId: string;
      readonly topic: string;
      readonly partition: number;
      readonly nextOffset: number;
    }
  >();
  private offsetsTimer: NodeJS.Timeout | undefined;

  private constructor(
    readonly path: string,
    readonly db: DatabaseSync,
    private readonly synchronous: 'FULL' | 'NORMAL',
  ) {}

  static acquire(options: LogFileOptions): LogFile {
    mkdirSync(options.dataDir, { recursive: true });
    const path = resolve(join(options.dataDir, 'event-log.sqlite'));
    let file = LogFile.open.get(path);
    if (!file) {
      const db = new DatabaseSync(path);
      const synchronous = options.synchronous ?? 'FULL';
      // SQLite commits without waiting for the disk; durable() syncs the write-ahead log itself,
      // off the event loop (see there), and a worker thread copies it into the database file.
      db.exec(
        'PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000; PRAGMA wal_autocheckpoint = 0;',
      );
      db.exec(SCHEMA);
      file = new LogFile(path, db, synchronous);
      file.checkpointer = startCheckpointer(path);
      LogFile.open.set(path, file);
    }
    file.handles += 1;
    return file;
  }

  /** The statement for `sql`, prepared once. */
  statement(sql: string): StatementSync {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  release(): void {
    this.handles -= 1;
    if (this.handles > 0) return;
    LogFile.open.delete(this.path);
    this.writeOffsets();
    void this.checkpointer?.terminate();
    this.db.close();
    if (this.walDescriptor !== undefined) closeSync(this.walDescriptor);
  }

  partitions(topic: string): number {
    let count = this.partitionCounts.get(topic);
    if (count === undefined) {
      const row = this.db.prepare('SELECT partitions FROM topics WHERE name = ?').get(topic) as
        { partitions: number } | undefined;
      if (!row) throw new Error(`unknown topic ${topic}: call ensureTopics first`);
      count = row.partitions;
      this.partitionCounts.set(topic, count);
    }
    return count;
  }

  /** The offset the next record of this partition gets. */
  endOffset(topic: string, partition: number): number {
    const id = partitionId(topic, partition);
    let end = this.endOffsets.get(id);
    if (end === undefined) {
      const row = this.db
        .prepare('SELECT max(offset_no) AS last FROM records WHERE topic = ? AND partition_no = ?')
        .get(topic, partition) as { last: number | null };
      end = (row.last ?? -1) + 1;
      this.endOffsets.set(id, end);
    }
    return end;
  }

  setEndOffset(topic: string, partition: number, end: number): void {
    this.endOffsets.set(partitionId(topic, partition), end);
  }

  forgetEndOffsets(): void {
    this.endOffsets.clear();
    this.tails.clear();
  }

  group(groupId: string): GroupState {
    let group = this.groups.get(groupId);
    if (!group) {
      group = { id: groupId, members: [], busy: new Set(), nextOffsets: new Map() };
      this.groups.set(groupId, group);
    }
    return group;
  }

  /** The group's committed position in a partition, or undefined when it has none. */
  committedOffset(group: GroupState, topic: string, partition: number): number | undefined {
    const id = partitionId(topic, partition);
    if (!group.nextOffsets.has(id)) {
      const row = this.statement(
        'SELECT next_offset FROM group_offsets WHERE group_id = ? AND topic = ? AND partition_no = ?',
      ).get(group.id, topic, partition) as { next_offset: number } | undefined;
      group.nextOffsets.set(id, row?.next_offset);
    }
    return group.nextOffsets.get(id);
  }

  /**
   * Commits a group's position: at once in memory, and in the file with the next publish's
   * transaction or within a fifth of a second, whichever comes first (one write for many batches).
   * A position lost to a crash only delivers records again, which consumers recognise.
   */
  commitOffset(group: GroupState, topic: string, partition: number, nextOffset: number): void {
    const id = partitionId(topic, partition);
    group.nextOffsets.set(id, nextOffset);
    this.unwrittenOffsets.set(`${group.id}\u0000${id}`, { groupId: group.id, topic, partition, nextOffset });
    this.offsetsTimer ??= setTimeout(() => this.writeOffsets(), OFFSET_WRITE_MS).unref();
  }

  /** Writes the positions committed since the last write; inside a transaction when one is open. */
  writeOffsets(): void {
    clearTimeout(this.offsetsTimer);
    this.offsetsTimer = undefined;
    if (this.unwrittenOffsets.size === 0 || !this.db.isOpen) return;
    const upsert = this.statement(
      `INSERT INTO group_offsets (group_id, topic, partition_no, next_offset) VALUES (?, ?, ?, ?)
       ON CONFLICT (group_id, topic, partition_no) DO UPDATE SET next_offset = excluded.next_offset`,
    );
    const own = !this.db.isTransaction;
    if (own) this.db.exec('BEGIN IMMEDIATE');
    try {
      for (const { groupId, topic, partition, nextOffset } of this.unwrittenOffsets.values()) {
        upsert.run(groupId, topic, partition, nextOffset);
      }
      if (own) this.db.exec('COMMIT');
      this.unwrittenOffsets.clear();
    } catch (error) {
      if (own && this.db.isTransaction) this.db.exec('ROLLBACK');
      throw error;
    }
  }

  /**
   * Makes records just committed durable, then readable: one fdatasync of the write-ahead log on
   * libuv's thread pool covers every commit made before it started (group commit), so the event
   * loop never waits for the disk; commits made meanwhile wait for the next one. Only then do
   * subscribers see the records (the end offsets they read move, the records join the in-memory
   * tail) and `settle` is called. With synchronous NORMAL nothing is synced.
   */
  durable(
    records: readonly IncomingRecord[],
    ends: readonly { readonly topic: string; readonly partition: number; readonly end: number }[],
    settle: (error?: Error) => void,
  ): void {
    this.unsynced.push({ records, ends, settle });
    this.syncNext();
  }

  /**
   * Runs `commit` now when no sync is in flight, else once it is done: commits of a busy moment then
   * gather into one transaction, and the disk syncs at its own pace.
   */
  whenSynced(commit: () => void): void {
    if (!this.syncing) {
      commit();
      return;
    }
    this.afterSync.push(commit);
  }

  private syncNext(): void {
    if (this.syncing) return;
    const waiting = this.afterSync;
    this.afterSync = [];
    for (const commit of waiting) commit();
    if (this.syncing || this.unsynced.length === 0) return;
    const batch = this.unsynced;
    this.unsynced = [];
    const done = (error: Error | null) => {
      this.syncing = false;
      for (const { records, ends, settle } of batch) {
        if (!error) {
          this.remember(records);
          for (const { topic, partition, end } of ends) {
            const id = partitionId(topic, partition);
            if ((this.readableEnds.get(id) ?? -1) < end) this.readableEnds.set(id, end);
          }
        }
        settle(error ?? undefined);
      }
      if (!error) this.signal.notify();
      this.syncNext();
    };
    this.syncing = true;
    if (this.synchronous === 'NORMAL') {
      setImmediate(() => done(null));
      return;
    }
    this.walDescriptor ??= openSync(`${this.path}-wal`, 'r');
    fdatasync(this.walDescriptor, done);
  }

  /** The end of a partition as subscribers see it: what was synced (or found at start). */
  readableEnd(topic: string, partition: number): number {
    return this.readableEnds.get(partitionId(topic, partition)) ?? this.endOffset(topic, partition);
  }

  /**
   * Keeps the records just committed in memory, the newest few thousand of each partition, so
   * subscribers in this process read them from there instead of from the file.
   */
  remember(records: readonly IncomingRecord[]): void {
    for (const record of records) {
      const id = partitionId(record.topic, record.partition);
      const offset = Number(record.offset);
      let tail = this.tails.get(id);
      if (!tail || tail.first + tail.records.length !== offset) {
        tail = { first: offset, records: [] };
        this.tails.set(id, tail);
      }
      tail.records.push(record);
      if (tail.records.length > TAIL_RECORDS * 2) {
        tail.records = tail.records.slice(-TAIL_RECORDS);
        tail.first = offset + 1 - tail.records.length;
      }
    }
  }

  /** Up to `limit` records of a partition from `from` on, when memory holds them all; else undefined. */
  recentRecords(topic: string, partition: number, from: number, limit: number): IncomingRecord[] | undefined {
    const tail = this.tails.get(partitionId(topic, partition));
    if (!tail || from < tail.first || from >= tail.first + tail.records.length) return undefined;
    const start = from - tail.first;
    return tail.records.slice(start, start + limit);
  }

  /** Round-robin: partition p of a topic goes to member p mod n of the members subscribed to it. */
  rebalance(group: GroupState): void {
    const assignments = new Map<GroupMember, { topic: string; partition: number }[]>(
      group.members.map((member) => [member, []]),
    );
    const topics = new Set(group.members.flatMap((member) => member.topics));
    for (const topic of topics) {
      const members = group.members.filter((member) => member.topics.includes(topic));
      for (let partition = 0; partition < this.partitions(topic); partition++) {
        assignments.get(members[partition % members.length]!)!.push({ topic, partition });
      }
    }
    for (const [member, partitions] of assignments) member.assign(partitions);
    this.signal.notify();
  }
}

export function toIncomingRecord(topic: string, row: RecordRow): IncomingRecord {
  return {
    topic,
    partition: row.partition_no,
    offset: String(row.offset_no),
    key: row.key,
    value: row.value,
    headers: JSON.parse(row.headers) as Record<string, string>,
    timestamp: row.timestamp,
  };
}
