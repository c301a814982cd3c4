import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import {
  ConcurrencyError,
  type EventStore,
  type NewEvent,
  type PendingCommit,
  type StoredEvent,
} from './event-store.port';

export interface EmbeddedEventStoreOptions {
  /** The data folder; created when missing. */
  readonly dataDir: string;
  /** One file per service: `<name>.event-store.sqlite`. Defaults to `events`. */
  readonly name?: string;
  /** The clock for `committedAt`; tests inject one. */
  readonly now?: () => Date;
  /** SQLite's `synchronous` pragma; FULL (the default) makes each append durable across power loss. */
  readonly synchronous?: 'FULL' | 'NORMAL';
}

interface CommitRow {
  readonly seq: number;
  readonly stream_id: string;
  readonly committed_at: number;
}

interface EventRow {
  readonly commit_seq: number;
  readonly stream_id: string;
  readonly version: number;
  readonly event_id: string;
  readonly type: string;
  readonly partition_key: string;
  readonly occurred_at: number;
  readonly correlation_id: string;
  readonly causation_id: string;
  readonly traceparent: string;
  readonly tracestate: string;
  readonly payload: Uint8Array;
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS commits (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    stream_id TEXT NOT NULL,
    base_version INTEGER NOT NULL,
    version INTEGER NOT NULL,
    committed_at INTEGER NOT NULL,
    published INTEGER NOT NULL DEFAULT 0,
    UNIQUE (stream_id, base_version),
    UNIQUE (stream_id, version)
  );
  CREATE INDEX IF NOT EXISTS commits_unpublished ON commits (seq) WHERE published = 0;
  CREATE TABLE IF NOT EXISTS events (
    stream_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    commit_seq INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    type TEXT NOT NULL,
    partition_key TEXT NOT NULL,
    occurred_at INTEGER NOT NULL,
    correlation_id TEXT NOT NULL,
    causation_id TEXT NOT NULL,
    traceparent TEXT NOT NULL,
    tracestate TEXT NOT NULL,
    payload BLOB NOT NULL,
    PRIMARY KEY (stream_id, version)
  ) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS events_by_commit ON events (commit_seq);
`;

/** An append waiting for the next group commit. */
interface QueuedAppend {
  readonly streamId: string;
  readonly expectedVersion: number;
  readonly events: readonly NewEvent[];
  resolve(version: number): void;
  reject(error: unknown): void;
}

/**
 * The event store of embedded mode: a SQLite file in the data folder (WAL). A commit is one SQLite
 * transaction (a `commits` row and its `events` rows), so a restart never sees half a commit. Commits
 * are numbered in insertion order, which is also the outbox order: a stream's commits are inserted in
 * version order, so that order keeps each stream's order.
 *
 * Appends made in the same turn of the event loop share one SQLite transaction, each in its own
 * savepoint (group commit): one wait for the disk makes all of them durable, a conflicting append
 * fails alone, and each caller hears back only once its events are on disk.
 */
export class EmbeddedEventStore implements EventStore {
  private readonly db: DatabaseSync;
  private readonly now: () => Date;
  private readonly synchronous: 'FULL' | 'NORMAL';
  private readonly statements = new Map<string, StatementSync>();
  private queued: QueuedAppend[] = [];

  constructor(options: EmbeddedEventStoreOptions) {
    mkdirSync(options.dataDir, { recursive: true });
    this.db = new DatabaseSync(join(options.dataDir, `${options.name ?? 'events'}.event-store.sqlite`));
    this.synchronous = options.synchronous ?? 'FULL';
    this.db.exec(
      `PRAGMA journal_mode = WAL; PRAGMA synchronous = ${this.synchronous}; PRAGMA busy_timeout = 5000;`,
    );
    this.db.exec(SCHEMA);
    this.now = options.now ?? (() => new Date());
  }

  async readStream(streamId: string): Promise<StoredEvent[]> {
    const rows = this.statement('SELECT * FROM events WHERE stream_id = ? ORDER BY version').all(
      streamId,
    ) as unknown as EventRow[];
    return rows.map(toStoredEvent);
  }

  async appendToStream(
    streamId: string,
    expectedVersion: number,
    events: readonly NewEvent[],
  ): Promise<number> {
    if (!Number.isSafeInteger(expectedVersion) || expectedVersion < 0) {
      throw new RangeError(`expected version must be a non-negative integer, got ${expectedVersion}`);
    }
    return new Promise<number>((resolve, reject) => {
      this.queued.push({ streamId, expectedVersion, events, resolve, reject });
      if (this.queued.length === 1) setImmediate(() => this.commitQueued());
    });
  }

  /** Commits every queued append in one transaction, each in a savepoint of its own. */
  private commitQueued(): void {
    const appends = this.queued;
    this.queued = [];
    if (appends.length === 0) return;
    const outcomes: (() => void)[] = [];
    try {
      this.db.exec('BEGIN IMMEDIATE');
      for (const append of appends) {
        this.db.exec('SAVEPOINT append');
        try {
          const version = this.appendInTransaction(append);
          this.db.exec('RELEASE append');
          outcomes.push(() => append.resolve(version));
        } catch (error) {
          this.db.exec('ROLLBACK TO append');
          this.db.exec('RELEASE append');
          outcomes.push(() => append.reject(error));
        }
      }
      this.db.exec('COMMIT');
    } catch (error) {
      if (this.db.isOpen && this.db.isTransaction) this.db.exec('ROLLBACK');
      for (const append of appends) append.reject(error);
      return;
    }
    for (const settle of outcomes) settle();
  }

  private appendInTransaction({ streamId, expectedVersion, events }: QueuedAppend): number {
    const last = this.statement(
      'SELECT version, committed_at FROM commits WHERE stream_id = ? ORDER BY version DESC LIMIT 1',
    ).get(streamId) as { version: number; committed_at: number } | undefined;
    if ((last?.version ?? 0) !== expectedVersion) throw new ConcurrencyError(streamId, expectedVersion);
    if (events.length > 0) this.insertCommit(streamId, expectedVersion, events, last?.committed_at ?? 0);
    return expectedVersion + events.length;
  }

  /** The statement for `sql`, prepared once. */
  private statement(sql: string): StatementSync {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  async readUnpublished(limit: number): Promise<PendingCommit[]> {
    if (limit <= 0) return [];
    const commits = this.statement(
      'SELECT seq, stream_id, committed_at FROM commits WHERE published = 0 ORDER BY seq LIMIT ?',
    ).all(limit) as unknown as CommitRow[];
    if (commits.length === 0) return [];
    const events = this.statement(
      `SELECT * FROM events WHERE commit_seq IN (SELECT value FROM json_each(?))
         ORDER BY commit_seq, version`,
    ).all(JSON.stringify(commits.map((commit) => commit.seq))) as unknown as EventRow[];
    const eventsByCommit = new Map<number, EventRow[]>();
    for (const event of events) {
      const group = eventsByCommit.get(event.commit_seq);
      if (group) group.push(event);
      else eventsByCommit.set(event.commit_seq, [event]);
    }
    return commits.map((commit) => ({
      commitId: String(commit.seq),
      streamId: commit.stream_id,
      committedAt: new Date(commit.committed_at),
      events: (eventsByCommit.get(commit.seq) ?? []).map(toStoredEvent),
    }));
  }

  /**
   * A mark lost to a power failure only publishes the commits again, which consumers ignore, so it
   * is written without waiting for the disk; the next append flushes it along.
   */
  async markPublished(commitIds: readonly string[]): Promise<void> {
    if (commitIds.length === 0) return;
    const mark = this.statement(
      'UPDATE commits SET published = 1 WHERE seq IN (SELECT value FROM json_each(?))',
    );
    if (this.synchronous === 'NORMAL') {
      mark.run(JSON.stringify(commitIds.map(Number)));
      return;
    }
    this.db.exec('PRAGMA synchronous = NORMAL');
    try {
      mark.run(JSON.stringify(commitIds.map(Number)));
    } finally {
      this.db.exec(`PRAGMA synchronous = ${this.synchronous}`);
    }
  }

  async close(): Promise<void> {
    if (!this.db.isOpen) return;
    this.commitQueued();
    this.db.close();
  }

  private insertCommit(
    streamId: string,
    baseVersion: number,
    events: readonly NewEvent[],
    previousCommittedAt: number,
  ): void {
    const { lastInsertRowid: seq } = this.statement(
      `INSERT INTO commits (stream_id, base_version, version, committed_at) VALUES (?, ?, ?, ?)`,
    ).run(
      streamId,
      baseVersion,
      baseVersion + events.length,
      Math.max(this.now().getTime(), previousCommittedAt),
    );
    const insertEvent = this
      .statement(`INSERT INTO events (stream_id, version, commit_seq, event_id, type, partition_key, occurred_at,
         correlation_id, causation_id, traceparent, tracestate, payload)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    events.forEach((event, index) =>
      insertEvent.run(
        streamId,
        baseVersion + index + 1,
        seq,
        event.eventId,
        event.type,
        event.partitionKey,
        event.occurredAt.getTime(),
        event.correlationId,
        event.causationId,
        event.traceparent,
        event.tracestate,
        event.payload,
      ),
    );
  }
}

function toStoredEvent(row: EventRow): StoredEvent {
  return {
    streamId: row.stream_id,
    version: row.version,
    eventId: row.event_id,
    type: row.type,
    partitionKey: row.partition_key,
    occurredAt: new Date(row.occurred_at),
    correlationId: row.correlation_id,
    causationId: row.causation_id,
    traceparent: row.traceparent,
    tracestate: row.tracestate,
    payload: row.payload,
  };
}
