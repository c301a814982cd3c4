import { Binary, type Collection, type Db, MongoServerError } from 'mongodb';
import {
  ConcurrencyError,
  type EventStore,
  type NewEvent,
  type PendingCommit,
  type StoredEvent,
} from './event-store.port';

interface EventDocument {
  readonly eventId: string;
  readonly type: string;
  readonly partitionKey: string;
  readonly version: number;
  readonly occurredAt: Date;
  readonly correlationId: string;
  readonly causationId: string;
  readonly traceparent: string;
  readonly tracestate: string;
  readonly payload: Binary;
}

/**
 * One document per commit; it is also the outbox entry (`published`). Unique {streamId, baseVersion}
 * and {streamId, version} make two appends from the same end of a stream, or from a stale end, collide
 * on insert, so optimistic concurrency needs single-document atomicity only (no transactions).
 */
interface CommitDocument {
  readonly _id: string;
  readonly streamId: string;
  /** The stream's last version before this commit (the caller's expected version). */
  readonly baseVersion: number;
  /** The last version in this commit. */
  readonly version: number;
  readonly events: readonly EventDocument[];
  /** Never earlier than the stream's previous commit, so sorting by it keeps a stream's order. */
  readonly committedAt: Date;
  readonly published: boolean;
}

export interface MongoEventStoreOptions {
  /** Defaults to `event_commits`. */
  readonly collectionName?: string;
  /** The clock for `committedAt`; tests inject one. */
  readonly now?: () => Date;
}

const DUPLICATE_KEY = 11000;

/**
 * The event store on MongoDB (or FerretDB): no transactions, no change streams, payloads as BSON
 * binary. `close()` leaves the `Db`'s client open: it belongs to whoever passed it in.
 */
export class MongoEventStore implements EventStore {
  private constructor(
    private readonly commits: Collection<CommitDocument>,
    private readonly now: () => Date,
  ) {}

  /** Opens the store over `db`, creating its indexes (idempotent). */
  static async open(db: Db, options: MongoEventStoreOptions = {}): Promise<MongoEventStore> {
    const commits = db.collection<CommitDocument>(options.collectionName ?? 'event_commits', {
      writeConcern: { w: 'majority' },
    });
    // One createIndex call per index: FerretDB 1.24 panics on a createIndexes of several indexes
    // that already exist, which is every start after the first.
    await commits.createIndex({ streamId: 1, version: 1 }, { name: 'stream_version', unique: true });
    await commits.createIndex({ streamId: 1, baseVersion: 1 }, { name: 'stream_base_version', unique: true });
    await commits.createIndex({ published: 1, committedAt: 1 }, { name: 'outbox' });
    return new MongoEventStore(commits, options.now ?? (() => new Date()));
  }

  async readStream(streamId: string): Promise<StoredEvent[]> {
    const commits = await this.commits.find({ streamId }).sort({ version: 1 }).toArray();
    return commits.flatMap(toStoredEvents);
  }

  async appendToStream(
    streamId: string,
    expectedVersion: number,
    events: readonly NewEvent[],
  ): Promise<number> {
    assertVersion(expectedVersion);
    // The commit that ends at the expected version, found by its _id: FerretDB answers _id
    // lookups from its primary key, while a filter on streamId reads the whole collection.
    const last =
      expectedVersion === 0
        ? null
        : await this.commits.findOne(
            { _id: commitId(streamId, expectedVersion) },
            { projection: { version: 1, committedAt: 1 } },
          );
    if (expectedVersion > 0 && !last) throw new ConcurrencyError(streamId, expectedVersion);
    if (events.length === 0) return expectedVersion;

    const now = this.now();
    const version = expectedVersion + events.length;
    const commit: CommitDocument = {
      _id: commitId(streamId, version),
      streamId,
      baseVersion: expectedVersion,
      version,
      events: events.map((event, index) => toEventDocument(event, expectedVersion + index + 1)),
      committedAt: last && last.committedAt > now ? last.committedAt : now,
      published: false,
    };
    try {
      await this.commits.insertOne(commit);
    } catch (error) {
      if (!isDuplicateKey(error)) throw error;
      if (await this.isOwnCommit(streamId, expectedVersion, events)) return version;
      throw new ConcurrencyError(streamId, expectedVersion);
    }
    return version;
  }

  async readUnpublished(limit: number): Promise<PendingCommit[]> {
    if (limit <= 0) return [];
    const commits = await this.commits
      .find({ published: false })
      .sort({ committedAt: 1, streamId: 1, version: 1 })
      .limit(limit)
      .toArray();
    return commits.map((commit) => ({
      commitId: commit._id,
      streamId: commit.streamId,
      committedAt: commit.committedAt,
      events: toStoredEvents(commit),
    }));
  }

  async markPublished(commitIds: readonly string[]): Promise<void> {
    if (commitIds.length === 0) return;
    await this.commits.updateMany({ _id: { $in: [...commitIds] } }, { $set: { published: true } });
  }

  async close(): Promise<void> {}

  /**
   * A retried insert whose first attempt did land (the driver retries after a network error, and
   * FerretDB has no retryable-write dedupe) collides with itself: that is a success, not a conflict.
   */
  private async isOwnCommit(
    streamId: string,
    baseVersion: number,
    events: readonly NewEvent[],
  ): Promise<boolean> {
    const existing = await this.commits.findOne({ streamId, baseVersion });
    const storedIds = existing?.events.map((event) => event.eventId) ?? [];
    return storedIds.join('\n') === events.map((event) => event.eventId).join('\n');
  }
}

/** A commit's _id: its stream and the version it ends at, unique like (streamId, version). */
const commitId = (streamId: string, version: number): string => `${streamId}@${version}`;

function toEventDocument(event: NewEvent, version: number): EventDocument {
  return {
    eventId: event.eventId,
    type: event.type,
    partitionKey: event.partitionKey,
    version,
    occurredAt: event.occurredAt,
    correlationId: event.correlationId,
    causationId: event.causationId,
    traceparent: event.traceparent,
    tracestate: event.tracestate,
    payload: new Binary(event.payload),
  };
}

function toStoredEvents(commit: CommitDocument): StoredEvent[] {
  return commit.events.map((event) => ({
    streamId: commit.streamId,
    version: event.version,
    eventId: event.eventId,
    type: event.type,
    partitionKey: event.partitionKey,
    occurredAt: event.occurredAt,
    correlationId: event.correlationId,
    causationId: event.causationId,
    traceparent: event.traceparent,
    tracestate: event.tracestate,
    payload: new Uint8Array(event.payload.value()),
  }));
}

function assertVersion(expectedVersion: number): void {
  if (!Number.isSafeInteger(expectedVersion) || expectedVersion < 0) {
    throw new RangeError(`expected version must be a non-negative integer, got ${expectedVersion}`);
  }
}

function isDuplicateKey(error: unknown): boolean {
  return error instanceof MongoServerError && error.code === DUPLICATE_KEY;
}
