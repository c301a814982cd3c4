import { type ErrorReporter, reportToStderr, type RetryBackoff } from './error-reporting';
import type {
  EventLog,
  IncomingRecord,
  OutgoingRecord,
  SubscribeOptions,
  Subscription,
  TopicSpec,
} from './event-log.port';
import { LogFile, partitionId, type RecordRow, toIncomingRecord } from './event-log-file.embedded';
import { EmbeddedSubscription } from './event-log-subscription.embedded';
import { partitionForKey } from './partitioner';

export interface EmbeddedEventLogOptions {
  /** The data folder; created when missing. The log is the file `event-log.sqlite` in it. */
  readonly dataDir: string;
  /** SQLite's `synchronous` pragma; FULL (the default) makes a publish durable across power loss. */
  readonly synchronous?: 'FULL' | 'NORMAL';
  /** Most records handed to one `onBatch` call; defaults to 500. */
  readonly maxBatchSize?: number;
  /** Backoff before a failed batch is delivered again; defaults to 200 ms .. 10 s. */
  readonly retryBackoff?: RetryBackoff;
  readonly onError?: ErrorReporter;
}

/**
 * How long a publish waits for others to share its transaction: each commit writes whole pages to
 * the write-ahead log, so fewer, larger commits cost far less than one per publish.
 */
const GROUP_COMMIT_MS = 2;

/** A publish waiting for the next group commit. */
interface QueuedPublish {
  readonly topic: string;
  readonly records: readonly OutgoingRecord[];
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/** Replay reads; not part of the port. */
export interface ReadOptions {
  /** One partition in offset order; all partitions (partition by partition) when absent. */
  readonly partition?: number;
  /** Records at or after this offset (in each partition read). */
  readonly fromOffset?: string | number;
  /** Records whose timestamp (ms since the epoch) is at or after this one. */
  readonly fromTimestamp?: number;
  readonly limit: number;
}

/**
 * The event log of embedded mode: topics, partitions and consumer groups in a SQLite file, with the
 * semantics of the Kafka adapter (key -> partition by Kafka's murmur2, per-partition offsets,
 * committed offsets per group, at-least-once redelivery after a handler error). Subscribers are woken
 * in process when records arrive, so there is no polling. Retention and compaction are not applied:
 * topics keep every record, which replay needs anyway and a development data folder can afford.
 */
export class EmbeddedEventLog implements EventLog {
  private readonly file: LogFile;
  private readonly subscriptions = new Set<EmbeddedSubscription>();
  private readonly maxBatchSize: number;
  private readonly retryBackoff: RetryBackoff;
  private readonly onError: ErrorReporter;
  private closed = false;
  private queued: QueuedPublish[] = [];

  constructor(options: EmbeddedEventLogOptions) {
    this.file = LogFile.acquire(options);
    this.maxBatchSize = options.maxBatchSize ?? 500;
    this.retryBackoff = options.retryBackoff ?? { initialMs: 200, maxMs: 10_000 };
    this.onError = options.onError ?? reportToStderr;
  }

  /** Creates the missing topics; an existing topic keeps its partitions and settings. */
  async ensureTopics(topics: readonly TopicSpec[]): Promise<void> {
    this.assertOpen();
    const insert = this.file.db.prepare(
      'INSERT INTO topics (name, partitions, compacted, retention_ms) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING',
    );
    for (const topic of topics) {
      if (!Number.isInteger(topic.partitions) || topic.partitions < 1) {
        throw new RangeError(`topic ${topic.name} needs at least one partition`);
      }
      insert.run(topic.name, topic.partitions, topic.compacted ? 1 : 0, topic.retentionMs ?? null);
    }
  }

  /**
   * Appends the records; publishes made within a few milliseconds share one transaction, and the
   * transactions of a moment share one disk sync off the event loop (group commit). Each resolves
   * once its records are durable, and only then do subscribers see them.
   */
  publish(topic: string, records: readonly OutgoingRecord[]): Promise<void> {
    try {
      this.assertOpen();
      if (records.length === 0) return Promise.resolve();
      this.file.partitions(topic);
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<void>((resolve, reject) => {
      this.queued.push({ topic, records, resolve, reject });
      if (this.queued.length === 1) {
        setTimeout(() => this.file.whenSynced(() => this.commitQueued()), GROUP_COMMIT_MS);
      }
    });
  }

  /** Appends every queued publish in one transaction; a failed one fails alone. */
  private commitQueued(): void {
    const publishes = this.queued;
    this.queued = [];
    if (publishes.length === 0) return;
    if (this.closed) {
      for (const publish of publishes) publish.reject(new Error('the embedded event log is closed'));
      return;
    }
    const insert = this.file.statement(
      `INSERT INTO records (topic, partition_no, offset_no, key, value, headers, timestamp)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    );
    const now = Date.now();
    const ends = new Map<string, { topic: string; partition: number; end: number }>();
    const appended: IncomingRecord[] = [];
    const outcomes: ((error?: Error) => void)[] = [];
    try {
      this.file.db.exec('BEGIN IMMEDIATE');
      this.file.writeOffsets();
      for (const publish of publishes) {
        const before = new Map([...ends].map(([id, end]) => [id, { ...end }]));
        const appendedBefore = appended.length;
        this.file.db.exec('SAVEPOINT publish');
        try {
          const partitions = this.file.partitions(publish.topic);
          for (const record of publish.records) {
            const partition = partitionForKey(record.key, partitions);
            const id = partitionId(publish.topic, partition);
            const known = ends.get(id);
            const offset = known?.end ?? this.file.endOffset(publish.topic, partition);
            const headers = record.headers ?? {};
            const timestamp = record.timestamp ?? now;
            insert.run(
              publish.topic,
              partition,
              offset,
              record.key,
              record.value,
              JSON.stringify(headers),
              timestamp,
            );
            appended.push({
              topic: publish.topic,
              partition,
              offset: String(offset),
              key: record.key,
              value: record.value,
              headers,
              timestamp,
            });
            ends.set(id, { topic: publish.topic, partition, end: offset + 1 });
          }
          this.file.db.exec('RELEASE publish');
          outcomes.push((error) => (error ? publish.reject(error) : publish.resolve()));
        } catch (error) {
          this.file.db.exec('ROLLBACK TO publish');
          this.file.db.exec('RELEASE publish');
          ends.clear();
          for (const [id, end] of before) ends.set(id, end);
          appended.length = appendedBefore;
          outcomes.push(() => publish.reject(error));
        }
      }
      this.file.db.exec('COMMIT');
    } catch (error) {
      if (this.file.db.isOpen && this.file.db.isTransaction) this.file.db.exec('ROLLBACK');
      this.file.forgetEndOffsets();
      for (const publish of publishes) publish.reject(error);
      return;
    }
    for (const { topic, partition, end } of ends.values()) this.file.setEndOffset(topic, partition, end);
    this.file.durable(appended, [...ends.values()], (error) => {
      for (const settle of outcomes) settle(error);
    });
  }

  async subscribe(options: SubscribeOptions): Promise<Subscription> {
    this.assertOpen();
    const group = this.file.group(options.groupId);
    for (const topic of options.topics) {
      const partitions = this.file.partitions(topic);
      if (options.fromBeginning !== false) continue;
      for (let partition = 0; partition < partitions; partition++) {
        if (this.file.committedOffset(group, topic, partition) === undefined) {
          this.file.commitOffset(group, topic, partition, this.file.readableEnd(topic, partition));
        }
      }
    }
    const subscription = new EmbeddedSubscription(this.file, group, options, {
      maxBatchSize: this.maxBatchSize,
      retryBackoff: this.retryBackoff,
      onError: this.onError,
      onStopped: () => this.subscriptions.delete(subscription),
    });
    this.subscriptions.add(subscription);
    group.members.push(subscription);
    this.file.rebalance(group);
    subscription.start();
    return subscription;
  }

  /** Reads records for replay and debugging, without a consumer group. */
  async read(topic: string, options: ReadOptions): Promise<IncomingRecord[]> {
    this.assertOpen();
    this.file.partitions(topic);
    const conditions = ['topic = ?', 'offset_no >= ?', 'timestamp >= ?'];
    const parameters: (string | number)[] = [
      topic,
      Number(options.fromOffset ?? 0),
      options.fromTimestamp ?? Number.MIN_SAFE_INTEGER,
    ];
    if (options.partition !== undefined) {
      conditions.push('partition_no = ?');
      parameters.push(options.partition);
    }
    const rows = this.file.db
      .prepare(
        `SELECT partition_no, offset_no, key, value, headers, timestamp FROM records
         WHERE ${conditions.join(' AND ')} ORDER BY partition_no, offset_no LIMIT ?`,
      )
      .all(...parameters, options.limit) as unknown as RecordRow[];
    return rows.map((row) => toIncomingRecord(topic, row));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.commitQueued();
    await Promise.all([...this.subscriptions].map((subscription) => subscription.stop()));
    this.closed = true;
    this.file.release();
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('the embedded event log is closed');
  }
}
