import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
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

/**
 * The event store of embedded mode: a SQLite file in the data folder (WAL). A commit is one SQLite
 * transaction (a `commits` row and its `events` rows), so a restart never sees half a commit. Commits
 * are numbered in insertion order, which is also the outbox order: a stream's commits are inserted in
 * version order, so that order keeps each stream's order.
 */
export class EmbeddedEventStore implements EventStore {
  private readonly db: DatabaseSync;
  private readonly now: () => Date;

  constructor(options: EmbeddedEventStoreOptions) {
    mkdirSync(options.dataDir, { recursive: true });
    this.db = new DatabaseSync(join(options.dataDir, `${options.name ?? 'events'}.event-store.sqlite`));
    this.db.exec(
      `PRAGMA journal_mode = WAL; PRAGMA synchronous = ${options.synchronous ?? 'FULL'}; PRAGMA busy_timeout = 5000;`,
    );
    this.db.exec(SCHEMA);
    this.now = options.now ?? (() => new Date());
  }

  async readStream(streamId: string): Promise<StoredEvent[]> {
    const rows = this.db
      .prepare('SELECT * FROM events WHERE stream_id = ? ORDER BY version')
      .all(streamId) as unknown as EventRow[];
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
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const last = this.db
        .prepare(
          'SELECT version, committed_at FROM commits WHERE stream_id = ? ORDER BY version DESC LIMIT 1',
        )
        .get(streamId) as { version: number; committed_at: number } | undefined;
      if ((last?.version ?? 0) !== expectedVersion) throw new ConcurrencyError(streamId, expectedVersion);
      const version = expectedVersion + events.length;
      if (events.length > 0) this.insertCommit(streamId, expectedVersion, events, last?.committed_at ?? 0);
      this.db.exec('COMMIT');
      return version;
    } catch (error) {
      this.db.exec('ROLLBACK');
      throw error;
    }
  }

  async readUnpublished(limit: number): Promise<PendingCommit[]> {
    if (limit <= 0) return [];
    const commits = this.db
      .prepare('SELECT seq, stream_id, committed_at FROM commits WHERE published = 0 ORDER BY seq LIMIT ?')
      .all(limit) as unknown as CommitRow[];
    if (commits.length === 0) return [];
    const events = this.db
      .prepare(
        `SELECT * FROM events WHERE commit_seq IN (SELECT value FROM json_each(?))
         ORDER BY commit_seq, version`,
      )
      .all(JSON.stringify(commits.map((commit) => commit.seq))) as unknown as EventRow[];
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

  async markPublished(commitIds: readonly string[]): Promise<void> {
    if (commitIds.length === 0) return;
    this.db
      .prepare('UPDATE commits SET published = 1 WHERE seq IN (SELECT value FROM json_each(?))')
      .run(JSON.stringify(commitIds.map(Number)));
  }

  async close(): Promise<void> {
    if (this.db.isOpen) this.db.close();
  }

  private insertCommit(
    streamId: string,
    baseVersion: number,
    events: readonly NewEvent[],
    previousCommittedAt: number,
  ): void {
    const { lastInsertRowid: seq } = this.db
      .prepare(`INSERT INTO commits (stream_id, base_version, version, committed_at) VALUES (?, ?, ?, ?)`)
      .run(
        streamId,
        baseVersion,
        baseVersion + events.length,
        Math.max(this.now().getTime(), previousCommittedAt),
      );
    const insertEvent = this.db.prepare(
      `INSERT INTO events (stream_id, version, commit_seq, event_id, type, partition_key, occurred_at,
         correlation_id, causation_id, traceparent, tracestate, payload)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
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
