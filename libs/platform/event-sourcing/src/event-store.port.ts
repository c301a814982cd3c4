/**
 * The event store port. A stream is one aggregate (an account, a device list); its events carry
 * consecutive versions from 1. Each append is one commit, stored atomically as one record, and the
 * commits double as the outbox: a relay reads the unpublished ones and marks them published.
 */

/** An event as the command handler produces it, before the store gives it a version. */
export interface NewEvent {
  /** Globally unique id; consumers dedupe by it. */
  readonly eventId: string;
  /** The event's name, the case of its service's event oneof, e.g. `AccountRegistered`. */
  readonly type: string;
  /** The Kafka key: the account the event belongs to, so one account's events stay ordered. */
  readonly partitionKey: string;
  readonly occurredAt: Date;
  readonly correlationId: string;
  readonly causationId: string;
  /** W3C trace context of the command that caused the event; empty strings when none. */
  readonly traceparent: string;
  readonly tracestate: string;
  /** The protobuf encoding of the service's event message (its oneof envelope). */
  readonly payload: Uint8Array;
}

export interface StoredEvent extends NewEvent {
  /** The aggregate (stream) id. */
  readonly streamId: string;
  /** Position in the stream, from 1, without gaps. */
  readonly version: number;
}

/** A commit the relay has not published yet. */
export interface PendingCommit {
  /** Opaque id used to mark the commit published. */
  readonly commitId: string;
  readonly streamId: string;
  readonly committedAt: Date;
  readonly events: readonly StoredEvent[];
}

/** Thrown by `appendToStream` when the stream moved past the expected version. */
export class ConcurrencyError extends Error {
  constructor(
    readonly streamId: string,
    readonly expectedVersion: number,
  ) {
    super(`stream ${streamId} is no longer at version ${expectedVersion}`);
    this.name = 'ConcurrencyError';
  }
}

export interface EventStore {
  /** All events of a stream in version order; empty when the stream does not exist. */
  readStream(streamId: string): Promise<StoredEvent[]>;
  /**
   * Appends events as one atomic commit when the stream's last version equals `expectedVersion`
   * (0 for a new stream), else throws ConcurrencyError and writes nothing. Returns the new last version.
   * `expectedVersion` must be a version the caller read as the stream's end.
   */
  appendToStream(streamId: string, expectedVersion: number, events: readonly NewEvent[]): Promise<number>;
  /**
   * Up to `limit` unpublished commits, oldest first; commits of one stream come in version order
   * and a commit is never returned before an earlier unpublished commit of its stream.
   */
  readUnpublished(limit: number): Promise<PendingCommit[]>;
  /** Records that these commits reached the event log. */
  markPublished(commitIds: readonly string[]): Promise<void>;
  close(): Promise<void>;
}
