import type { RecordBatch } from '@tandem/messaging';
import type { PartitionPlan, PartitionRange } from './positions';

/** A consumer group's committed positions in one topic. */
export interface GroupPositions {
  readonly groupId: string;
  /** The next offset it handles, per partition; partitions it never committed in are absent. */
  readonly committed: ReadonlyMap<number, bigint>;
  /** Members consuming right now; undefined when the log cannot tell (the embedded log). */
  readonly members: number | undefined;
  readonly state?: string;
}

export interface ReadOptions {
  /** Keep reading new records after the partitions' ends, until `signal` aborts. */
  readonly follow: boolean;
  /** Ends the read: the batch in hand is the last one handed over. */
  readonly signal?: AbortSignal;
}

/**
 * A topic of Tandem's event log as replay tools read it: without joining or moving any consumer
 * group that Tandem uses. Kafka and the embedded log's file each have one.
 */
export interface LogSource {
  /** Where the log is, for messages: the brokers or the data folder. */
  readonly description: string;
  topicExists(topic: string): Promise<boolean>;
  partitions(topic: string): Promise<PartitionRange[]>;
  /** The first offset of each partition whose record's timestamp is at or after `timestamp`. */
  offsetsForTime(topic: string, timestamp: number): Promise<Map<number, bigint>>;
  /** Hands the planned records over in batches of one partition, in offset order per partition. */
  read(
    topic: string,
    plans: readonly PartitionPlan[],
    onBatch: (batch: RecordBatch) => Promise<void> | void,
    options: ReadOptions,
  ): Promise<void>;
  /** The consumer groups with committed offsets in the topic. */
  groups(topic: string): Promise<GroupPositions[]>;
  close(): Promise<void>;
}

/** Reads a whole topic as it is now, from its beginning to its end. */
export async function readWholeTopic(
  source: LogSource,
  topic: string,
  onBatch: (batch: RecordBatch) => Promise<void> | void,
): Promise<void> {
  const ranges = await source.partitions(topic);
  const plans = ranges.map((range) => ({ partition: range.partition, from: range.low, to: range.high }));
  await source.read(topic, plans, onBatch, { follow: false });
}
