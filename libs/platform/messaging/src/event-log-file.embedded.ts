import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
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
      db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = ${synchronous}; PRAGMA busy_timeout = 5000;`);
      db.exec(SCHEMA);
      file = new LogFile(path, db, synchronous);
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
    this.db.close();
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

  commitOffset(group: GroupState, topic: string, partition: number, nextOffset: number): void {
    const upsert = this.statement(
      `INSERT INTO group_offsets (group_id, topic, partition_no, next_offset) VALUES (?, ?, ?, ?)
       ON CONFLICT (group_id, topic, partition_no) DO UPDATE SET next_offset = excluded.next_offset`,
    );
    // A committed offset lost to a power failure only delivers records again, which consumers
    // ignore, so it is written without waiting for the disk; the next synchronous commit (a
    // publish) flushes it along.
    this.withoutDiskSync(() => upsert.run(group.id, topic, partition, nextOffset));
    group.nextOffsets.set(partitionId(topic, partition), nextOffset);
  }

  private withoutDiskSync(write: () => void): void {
    if (this.synchronous === 'NORMAL') {
      write();
      return;
    }
    this.db.exec('PRAGMA synchronous = NORMAL');
    try {
      write();
    } finally {
      this.db.exec(`PRAGMA synchronous = ${this.synchronous}`);
    }
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
