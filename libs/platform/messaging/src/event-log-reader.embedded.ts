import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { IncomingRecord, TopicSpec } from './event-log.port';
import { type RecordRow, toIncomingRecord } from './event-log-file.embedded';

/** The offsets of one partition: its first record and the offset the next record gets. */
export interface PartitionWatermarks {
  readonly partition: number;
  /** The first offset held; equals `high` when the partition is empty. */
  readonly low: number;
  readonly high: number;
}

/** A consumer group's committed position in one partition: the next offset it will handle. */
export interface CommittedOffset {
  readonly groupId: string;
  readonly partition: number;
  readonly nextOffset: number;
}

/**
 * A read-only view of the embedded event log's file, for replay and inspection tools in another
 * process than the Tandem that writes it (SQLite in WAL mode lets them read while it writes). It
 * creates nothing, joins no consumer group and writes no offset.
 */
export class EmbeddedEventLogReader {
  private constructor(private readonly db: DatabaseSync) {}

  /** Opens `event-log.sqlite` in the data folder; throws when there is none. */
  static open(dataDir: string): EmbeddedEventLogReader {
    const path = resolve(join(dataDir, 'event-log.sqlite'));
    if (!existsSync(path)) throw new Error(`no embedded event log at ${path}`);
    const db = new DatabaseSync(path, { readOnly: true });
    db.exec('PRAGMA busy_timeout = 5000;');
    return new EmbeddedEventLogReader(db);
  }

  topics(): TopicSpec[] {
    const rows = this.db
      .prepare('SELECT name, partitions, compacted, retention_ms FROM topics ORDER BY name')
      .all() as unknown as {
      name: string;
      partitions: number;
      compacted: number;
      retention_ms: number | null;
    }[];
    return rows.map((row) => ({
      name: row.name,
      partitions: row.partitions,
      ...(row.compacted ? { compacted: true } : {}),
      ...(row.retention_ms === null ? {} : { retentionMs: row.retention_ms }),
    }));
  }

  /** The topic's partition count; throws for a topic the log does not have. */
  partitions(topic: string): number {
    const row = this.db.prepare('SELECT partitions FROM topics WHERE name = ?').get(topic) as
      { partitions: number } | undefined;
    if (!row) throw new Error(`unknown topic ${topic}`);
    return row.partitions;
  }

  watermarks(topic: string): PartitionWatermarks[] {
    const partitions = this.partitions(topic);
    const rows = this.db
      .prepare(
        `SELECT partition_no, min(offset_no) AS low, max(offset_no) AS last FROM records
         WHERE topic = ? GROUP BY partition_no`,
      )
      .all(topic) as unknown as { partition_no: number; low: number; last: number }[];
    const byPartition = new Map(rows.map((row) => [row.partition_no, row]));
    return Array.from({ length: partitions }, (_, partition) => {
      const row = byPartition.get(partition);
      return row ? { partition, low: row.low, high: row.last + 1 } : { partition, low: 0, high: 0 };
    });
  }

  /** The first offset of the partition whose record's timestamp is at or after `timestamp`; the end when none is. */
  offsetForTimestamp(topic: string, partition: number, timestamp: number): number {
    const row = this.db
      .prepare(
        'SELECT min(offset_no) AS first FROM records WHERE topic = ? AND partition_no = ? AND timestamp >= ?',
      )
      .get(topic, partition, timestamp) as { first: number | null };
    if (row.first !== null) return row.first;
    return this.watermarks(topic)[partition]?.high ?? 0;
  }

  /** Up to `limit` records of one partition in offset order, from `fromOffset`, before `toOffset` when given. */
  read(
    topic: string,
    partition: number,
    options: { readonly fromOffset: number; readonly toOffset?: number; readonly limit: number },
  ): IncomingRecord[] {
    const rows = this.db
      .prepare(
        `SELECT partition_no, offset_no, key, value, headers, timestamp FROM records
         WHERE topic = ? AND partition_no = ? AND offset_no >= ? AND offset_no < ?
         ORDER BY offset_no LIMIT ?`,
      )
      .all(
        topic,
        partition,
        options.fromOffset,
        options.toOffset ?? Number.MAX_SAFE_INTEGER,
        options.limit,
      ) as unknown as RecordRow[];
    return rows.map((row) => toIncomingRecord(topic, row));
  }

  /** Every consumer group's committed offsets in the topic, by group and partition. */
  committedOffsets(topic: string): CommittedOffset[] {
    const rows = this.db
      .prepare(
        `SELECT group_id, partition_no, next_offset FROM group_offsets WHERE topic = ?
         ORDER BY group_id, partition_no`,
      )
      .all(topic) as unknown as { group_id: string; partition_no: number; next_offset: number }[];
    return rows.map((row) => ({
      groupId: row.group_id,
      partition: row.partition_no,
      nextOffset: row.next_offset,
    }));
  }

  close(): void {
    if (this.db.isOpen) this.db.close();
  }
}
