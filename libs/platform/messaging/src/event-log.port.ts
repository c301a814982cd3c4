/**
 * The event log port: Kafka in distributed mode, an embedded persisted log otherwise.
 * Topics have partitions; a record's key picks its partition, so records with one key keep their order.
 * Consumer groups share a topic's partitions and commit offsets only after a batch's effect is stored:
 * delivery is at least once, and handlers are idempotent.
 */

export interface TopicSpec {
  readonly name: string;
  readonly partitions: number;
  /** Keep only the newest record per key (Kafka log compaction). */
  readonly compacted?: boolean;
  /** How long records are kept; undefined keeps them forever (domain topics are kept for replay). */
  readonly retentionMs?: number;
}

export interface OutgoingRecord {
  readonly key: string;
  readonly value: Uint8Array;
  readonly headers?: Readonly<Record<string, string>>;
  /** Milliseconds since the epoch; the log's append time when absent. */
  readonly timestamp?: number;
}

export interface IncomingRecord {
  readonly topic: string;
  readonly partition: number;
  /** Offsets are decimal strings, as Kafka's are 64-bit. */
  readonly offset: string;
  readonly key: string;
  readonly value: Uint8Array;
  readonly headers: Readonly<Record<string, string>>;
  readonly timestamp: number;
}

export interface RecordBatch {
  readonly topic: string;
  readonly partition: number;
  readonly records: readonly IncomingRecord[];
}

export interface SubscribeOptions {
  readonly groupId: string;
  readonly topics: readonly string[];
  /** Where a group without committed offsets starts: the beginning (default) or the end. */
  readonly fromBeginning?: boolean;
  /**
   * Handles the records of one partition in offset order. When it resolves, the offsets are
   * committed; when it throws, nothing is committed and the batch is delivered again after a backoff.
   * `stopping` is aborted as `Subscription.stop` is called: a handler with much left to do may give
   * the batch up by throwing, and it is delivered again to whoever consumes the partition next.
   */
  readonly onBatch: (batch: RecordBatch, stopping: AbortSignal) => Promise<void>;
  /**
   * When true, a batch that resolves commits nothing: the subscriber keeps its effect in memory and
   * commits, with `Subscription.commit`, the positions whose effect it has stored (a checkpoint).
   * Fetching goes on after each batch either way.
   */
  readonly manualCommit?: boolean;
  /**
   * Told the partitions this member handles after every rebalance: state kept in memory for a
   * partition no longer among them is stale, as another member may write it now.
   */
  readonly onAssigned?: (partitions: readonly TopicPartition[]) => void;
}

export interface TopicPartition {
  readonly topic: string;
  readonly partition: number;
}

/** Where a group resumes in a partition: the offset of the first record not yet handled. */
export interface CommitPosition extends TopicPartition {
  readonly nextOffset: string;
}

export interface Subscription {
  /**
   * Stops fetching and waits for the batch in hand: finished, its offsets are committed; given up
   * (see `onBatch`'s `stopping`), nothing is.
   */
  stop(): Promise<void>;
  /** Commits positions, for a subscription with `manualCommit`. */
  commit(positions: readonly CommitPosition[]): Promise<void>;
}

export interface EventLog {
  ensureTopics(topics: readonly TopicSpec[]): Promise<void>;
  /** Resolves once every record is durably in the log (Kafka: acknowledged by all in-sync replicas). */
  publish(topic: string, records: readonly OutgoingRecord[]): Promise<void>;
  subscribe(options: SubscribeOptions): Promise<Subscription>;
  close(): Promise<void>;
}
