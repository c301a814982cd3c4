import { randomUUID } from 'node:crypto';
import { Binary, type Collection, type Db, MongoBulkWriteError, MongoServerError } from 'mongodb';
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

/** A commit as the stream holds it and as the outbox entry that logged it carries it. */
interface Commit {
  readonly streamId: string;
  /** The stream's last version before this commit (the caller's expected version). */
  readonly baseVersion: number;
  /** The last version in this commit. */
  readonly version: number;
  readonly events: readonly EventDocument[];
  /** Never earlier than the stream's previous commit. */
  readonly committedAt: Date;
}

/**
 * One document per commit, `_id` = `<streamId>#<baseVersion>`: two appends from the same end of a
 * stream collide on that `_id`, and a stale one collides with the commit that followed that end.
 * Reading a stream follows the chain `#0`, `#<end of the first commit>`, ... by `_id`.
 */
interface CommitDocument extends Commit {
  readonly _id: string;
}

/**
 * The outbox: entries numbered 1, 2, 3, ... without gaps (`_id` = the number as a string). A writer
 * claims the next number by inserting it, before it writes any commit, so every commit is logged
 * before it exists. A logged commit was written when the stream holds it under its `_id` with the
 * same event ids; the relay writes it itself when it is missing (its writer stopped in between).
 */
interface OutboxEntryDocument {
  readonly _id: string;
  /** Tells a writer its own entry from another writer's after an ambiguous insert. */
  readonly batchId: string;
  readonly commits: readonly Commit[];
}

/** The relay's position: every entry before `position` is published. */
interface RelayCursorDocument {
  readonly _id: typeof RELAY_CURSOR_ID;
  readonly position: number;
}

export interface MongoEventStoreOptions {
  /** Defaults to `event_commits`; the outbox goes to `<name>_outbox`. */
  readonly collectionName?: string;
  /** The clock for `committedAt`; tests inject one. */
  readonly now?: () => Date;
}

const DUPLICATE_KEY = 11000;
const RELAY_CURSOR_ID = 'relay-cursor';
/**
 * Events this instance keeps of the streams it read or wrote last. Commits never change, so a
 * stream read again costs one look-up past the end it holds, and an append at that end none.
 */
const HELD_EVENTS_LIMIT = 50_000;

/** A stream as far as this instance has read or written it. */
interface HeldStream {
  readonly events: readonly StoredEvent[];
  readonly version: number;
  readonly committedAt: Date;
}

interface QueuedAppend {
  readonly commit: Commit;
  resolve(version: number): void;
  reject(error: unknown): void;
}

/**
 * The event store on MongoDB (or FerretDB): no transactions, no change streams, payloads as BSON
 * binary, and no query: every operation is an insert or an exact-`_id` look-up or update, so its
 * cost does not grow with the collections (FerretDB on SQLite pushes down nothing else).
 *
 * An append checks that its expected version is an end of the stream (from what this instance last
 * read or wrote of it, else by reading the stream), logs the commit in the outbox, then inserts it
 * under `<streamId>#<expectedVersion>`; a duplicate key there is a concurrency conflict. Appends
 * made while a batch is being written wait and go together as the next batch: one outbox entry
 * and one bulk insert of their commits, two writes however many appends.
 *
 * An append that fails with an error other than ConcurrencyError (a lost connection) may still be
 * written: once its outbox entry is in, the relay completes it.
 *
 * `close()` leaves the `Db`'s client open: it belongs to whoever passed it in.
 */
export class MongoEventStore implements EventStore {
  private readonly held = new Map<string, HeldStream>();
  private heldEvents = 0;
  private queued: QueuedAppend[] = [];
  private writing: Promise<void> | undefined;
  /** The next outbox number this instance will try; found on the first append. */
  private nextPosition: number | undefined;
  /** The relay's side: first entry not wholly published, its entries' written commit ids, and marks. */
  private relayPosition: number | undefined;
  private readonly writtenCommitIds = new Map<number, string[]>();
  private readonly marked = new Set<string>();

  private constructor(
    private readonly commits: Collection<CommitDocument>,
    private readonly outbox: Collection<OutboxEntryDocument | RelayCursorDocument>,
    private readonly now: () => Date,
  ) {}

  /** Opens the store over `db`. It needs no index but `_id`'s. */
  static async open(db: Db, options: MongoEventStoreOptions = {}): Promise<MongoEventStore> {
    const name = options.collectionName ?? 'event_commits';
    const writeConcern = { writeConcern: { w: 'majority' as const } };
    return new MongoEventStore(
      db.collection<CommitDocument>(name, writeConcern),
      db.collection<OutboxEntryDocument | RelayCursorDocument>(`${name}_outbox`, writeConcern),
      options.now ?? (() => new Date()),
    );
  }

  async readStream(streamId: string): Promise<StoredEvent[]> {
    const known = this.held.get(streamId);
    const events = [...(known?.events ?? [])];
    let last: Commit | undefined;
    for (let base = known?.version ?? 0; ;) {
      const commit = await this.commits.findOne({ _id: commitId(streamId, base) });
      if (!commit) break;
      events.push(...toStoredEvents(commit));
      last = commit;
      base = commit.version;
    }
    if (last) this.hold(streamId, { events, version: last.version, committedAt: last.committedAt });
    return events;
  }

  async appendToStream(
    streamId: string,
    expectedVersion: number,
    events: readonly NewEvent[],
  ): Promise<number> {
    assertVersion(expectedVersion);
    const previousCommittedAt = await this.endCommittedAt(streamId, expectedVersion);
    if (events.length === 0) return expectedVersion;
    const now = this.now();
    const commit: Commit = {
      streamId,
      baseVersion: expectedVersion,
      version: expectedVersion + events.length,
      events: events.map((event, index) => toEventDocument(event, expectedVersion + index + 1)),
      committedAt: previousCommittedAt && previousCommittedAt > now ? previousCommittedAt : now,
    };
    return new Promise<number>((resolve, reject) => {
      this.queued.push({ commit, resolve, reject });
      this.writing ??= this.writeQueued();
    });
  }

  async readUnpublished(limit: number): Promise<PendingCommit[]> {
    if (limit <= 0) return [];
    const pending: PendingCommit[] = [];
    for (let position = await this.relayStart(); pending.length < limit; position++) {
      const entry = await this.entryAt(position);
      if (!entry) break;
      const outcomes = await this.verify(entry.commits);
      const written: string[] = [];
      entry.commits.forEach((commit, index) => {
        if (!outcomes[index]) return;
        const id = `${position}:${index}`;
        written.push(id);
        if (pending.length < limit && !this.marked.has(id))
          pending.push({
            commitId: id,
            streamId: commit.streamId,
            committedAt: commit.committedAt,
            events: toStoredEvents(commit),
          });
      });
      this.writtenCommitIds.set(position, written);
    }
    return pending;
  }

  /**
   * Marks commits published in memory and moves the relay's position past every entry whose written
   * commits are all marked; the position is stored by `_id` when it moved. A restart republishes
   * marked commits of an entry not wholly marked, which consumers ignore.
   */
  async markPublished(commitIds: readonly string[]): Promise<void> {
    if (commitIds.length === 0) return;
    let position = await this.relayStart();
    for (const id of commitIds) if (Number(id.split(':')[0]) >= position) this.marked.add(id);
    const start = position;
    for (let written = this.writtenCommitIds.get(position); written;) {
      if (!written.every((id) => this.marked.has(id))) break;
      for (const id of written) this.marked.delete(id);
      this.writtenCommitIds.delete(position);
      position += 1;
      written = this.writtenCommitIds.get(position);
    }
    if (position === start) return;
    this.relayPosition = position;
    await this.outbox.updateOne({ _id: RELAY_CURSOR_ID }, { $set: { position } }, { upsert: true });
  }

  async close(): Promise<void> {
    while (this.writing) await this.writing;
  }

  /**
   * The commit time of the commit ending at `expectedVersion`, or undefined for a new stream; throws
   * ConcurrencyError when no commit ends there (a version past the stream's end, or an old one).
   */
  private async endCommittedAt(streamId: string, expectedVersion: number): Promise<Date | undefined> {
    if (expectedVersion === 0) return undefined;
    let known = this.held.get(streamId);
    if (known?.version !== expectedVersion) {
      await this.readStream(streamId);
      known = this.held.get(streamId);
    }
    if (known?.version !== expectedVersion) throw new ConcurrencyError(streamId, expectedVersion);
    return known.committedAt;
  }

  /** Writes the queued appends as one batch, then the appends queued meanwhile, until none is left. */
  private async writeQueued(): Promise<void> {
    while (this.queued.length > 0) {
      const batch = this.queued;
      this.queued = [];
      try {
        const commits = batch.map((append) => append.commit);
        await this.log(commits);
        const outcomes = await this.write(commits);
        batch.forEach((append, index) => {
          const { streamId, baseVersion, version, committedAt } = append.commit;
          if (!outcomes[index]) return append.reject(new ConcurrencyError(streamId, baseVersion));
          const known = this.held.get(streamId);
          if (known?.version === baseVersion)
            this.hold(streamId, {
              events: [...known.events, ...toStoredEvents(append.commit)],
              version,
              committedAt,
            });
          else if (baseVersion === 0)
            this.hold(streamId, { events: toStoredEvents(append.commit), version, committedAt });
          append.resolve(version);
        });
      } catch (error) {
        for (const append of batch) append.reject(error);
      }
    }
    this.writing = undefined;
  }

  /** Inserts an outbox entry for these commits under the next free number. */
  private async log(commits: readonly Commit[]): Promise<void> {
    const batchId = randomUUID();
    let position = this.nextPosition ?? (await this.firstFreePosition(await this.relayCursor()));
    for (;;) {
      try {
        await this.outbox.insertOne({ _id: String(position), batchId, commits });
        break;
      } catch (error) {
        if (!isDuplicateKey(error)) throw error;
        // The driver may have retried an insert that had landed: then the entry there is this one.
        if ((await this.entryAt(position))?.batchId === batchId) break;
        // Another instance took it, and maybe many after it.
        position = await this.firstFreePosition(position + 1);
      }
    }
    this.nextPosition = position + 1;
  }

  /**
   * Inserts each logged commit under its stream's end and tells which were written: a commit
   * already there with the same event ids is this one (written by a retried insert, or by the
   * relay for a writer that stopped); another one means the append lost its race.
   */
  private async write(commits: readonly Commit[]): Promise<boolean[]> {
    const duplicates = await this.insertEach(commits.map(toCommitDocument));
    return Promise.all(
      commits.map(async (commit, index) => !duplicates.has(index) || (await this.isStored(commit))),
    );
  }

  /**
   * Which logged commits the streams hold, by `_id`; a missing one is written here, as its writer
   * would have: writer and relay insert the same document, so whichever comes second finds it.
   */
  private async verify(commits: readonly Commit[]): Promise<boolean[]> {
    const stored = await Promise.all(
      commits.map((commit) => this.commits.findOne({ _id: commitId(commit.streamId, commit.baseVersion) })),
    );
    const missing = commits.filter((_, index) => !stored[index]);
    const written = missing.length === 0 ? [] : await this.write(missing);
    return commits.map((commit, index) => {
      const found = stored[index];
      return found ? sameEvents(found.events, commit.events) : written[missing.indexOf(commit)]!;
    });
  }

  private async isStored(commit: Commit): Promise<boolean> {
    const stored = await this.commits.findOne({ _id: commitId(commit.streamId, commit.baseVersion) });
    return sameEvents(stored?.events ?? [], commit.events);
  }

  /** Inserts the documents in one unordered bulk write; returns the indexes that were already there. */
  private async insertEach(documents: readonly CommitDocument[]): Promise<Set<number>> {
    if (documents.length === 0) return new Set();
    try {
      await this.commits.insertMany([...documents], { ordered: false });
      return new Set();
    } catch (error) {
      if (!(error instanceof MongoBulkWriteError)) throw error;
      const writeErrors = Array.isArray(error.writeErrors) ? error.writeErrors : [error.writeErrors];
      if (!writeErrors.every((writeError) => writeError.code === DUPLICATE_KEY)) throw error;
      return new Set(writeErrors.map((writeError) => writeError.index));
    }
  }

  private entryAt(position: number): Promise<OutboxEntryDocument | null> {
    return this.outbox.findOne({ _id: String(position) }) as Promise<OutboxEntryDocument | null>;
  }

  private async relayStart(): Promise<number> {
    if (this.relayPosition === undefined) {
      const position = await this.relayCursor();
      this.relayPosition ??= position;
    }
    return this.relayPosition;
  }

  /** The relay's stored position: every entry before it is published. */
  private async relayCursor(): Promise<number> {
    const cursor = (await this.outbox.findOne({ _id: RELAY_CURSOR_ID })) as RelayCursorDocument | null;
    return cursor?.position ?? 1;
  }

  /**
   * The first outbox number not taken from `start` on (a number known taken, or the relay's
   * position). Numbers are taken without gaps, so it doubles the step until a number is free, then
   * halves the gap: O(log n) look-ups by `_id`.
   */
  private async firstFreePosition(start: number): Promise<number> {
    const taken = async (position: number): Promise<boolean> => (await this.entryAt(position)) !== null;
    if (!(await taken(start))) return start;
    let low = start;
    let step = 1;
    while (await taken(start + step)) {
      low = start + step;
      step *= 2;
    }
    let high = start + step;
    while (high - low > 1) {
      const middle = Math.floor((low + high) / 2);
      if (await taken(middle)) low = middle;
      else high = middle;
    }
    return high;
  }

  /** Keeps the stream as the most recently used, dropping the least recently used beyond the limit. */
  private hold(streamId: string, stream: HeldStream): void {
    this.heldEvents -= this.held.get(streamId)?.events.length ?? 0;
    this.held.delete(streamId);
    this.held.set(streamId, stream);
    this.heldEvents += stream.events.length;
    for (const [oldest, dropped] of this.held) {
      if (this.heldEvents <= HELD_EVENTS_LIMIT || oldest === streamId) break;
      this.held.delete(oldest);
      this.heldEvents -= dropped.events.length;
    }
  }
}

/** A commit's `_id`: its stream and the version it continues from, unique like (streamId, baseVersion). */
const commitId = (streamId: string, baseVersion: number): string => `${streamId}#${baseVersion}`;

const toCommitDocument = (commit: Commit): CommitDocument => ({
  _id: commitId(commit.streamId, commit.baseVersion),
  ...commit,
});

const sameEvents = (stored: readonly EventDocument[], logged: readonly EventDocument[]): boolean =>
  stored.length === logged.length && stored.every((event, index) => event.eventId === logged[index]!.eventId);

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

function toStoredEvents(commit: Commit): StoredEvent[] {
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
