import { EmbeddedEventLogReader, type RecordBatch } from '@tandem/messaging';
import { UsageError } from './connection';
import type { GroupPositions, LogSource, ReadOptions } from './log-source';
import type { PartitionPlan, PartitionRange } from './positions';

/** Records per read of one partition. */
const PAGE = 2_000;
/** How often a follow looks for new records: the writer is another process, which cannot wake us. */
const FOLLOW_POLL_MS = 250;

/** The embedded event log's file in a data folder, opened read-only. */
export class EmbeddedLogSource implements LogSource {
  readonly description: string;
  private readonly reader: EmbeddedEventLogReader;

  constructor(dataDir: string) {
    this.description = `the embedded event log in ${dataDir}`;
    try {
      this.reader = EmbeddedEventLogReader.open(dataDir);
    } catch (error) {
      throw new UsageError(
        `${(error as Error).message}: give the data folder Tandem runs with (--data-dir or TANDEM_DATA_DIR), or --brokers for Kafka`,
      );
    }
  }

  async topicExists(topic: string): Promise<boolean> {
    return this.reader.topics().some((spec) => spec.name === topic);
  }

  async partitions(topic: string): Promise<PartitionRange[]> {
    await this.assertTopic(topic);
    return this.reader.watermarks(topic).map(({ partition, low, high }) => ({
      partition,
      low: BigInt(low),
      high: BigInt(high),
    }));
  }

  async offsetsForTime(topic: string, timestamp: number): Promise<Map<number, bigint>> {
    await this.assertTopic(topic);
    const offsets = new Map<number, bigint>();
    for (let partition = 0; partition < this.reader.partitions(topic); partition++) {
      offsets.set(partition, BigInt(this.reader.offsetForTimestamp(topic, partition, timestamp)));
    }
    return offsets;
  }

  /** Partition by partition; when following, then round the partitions for new records. */
  async read(
    topic: string,
    plans: readonly PartitionPlan[],
    onBatch: (batch: RecordBatch) => Promise<void> | void,
    options: ReadOptions,
  ): Promise<void> {
    await this.assertTopic(topic);
    const next = new Map(plans.map((plan) => [plan.partition, Number(plan.from)]));
    const aborted = () => options.signal?.aborted === true;
    const drain = async (plan: PartitionPlan): Promise<number> => {
      let read = 0;
      for (;;) {
        if (aborted()) return read;
        const fromOffset = next.get(plan.partition)!;
        const records = this.reader.read(topic, plan.partition, {
          fromOffset,
          ...(plan.to === undefined ? {} : { toOffset: Number(plan.to) }),
          limit: PAGE,
        });
        if (records.length === 0) return read;
        next.set(plan.partition, Number(records[records.length - 1]!.offset) + 1);
        read += records.length;
        await onBatch({ topic, partition: plan.partition, records });
        if (records.length < PAGE) return read;
      }
    };
    for (const plan of plans) await drain(plan);
    if (!options.follow) return;
    while (!aborted()) {
      let read = 0;
      for (const plan of plans) read += await drain(plan);
      if (read === 0) await pause(FOLLOW_POLL_MS, options.signal);
    }
  }

  async groups(topic: string): Promise<GroupPositions[]> {
    await this.assertTopic(topic);
    const byGroup = new Map<string, Map<number, bigint>>();
    for (const { groupId, partition, nextOffset } of this.reader.committedOffsets(topic)) {
      const committed = byGroup.get(groupId) ?? new Map<number, bigint>();
      committed.set(partition, BigInt(nextOffset));
      byGroup.set(groupId, committed);
    }
    return [...byGroup].map(([groupId, committed]) => ({ groupId, committed, members: undefined }));
  }

  async close(): Promise<void> {
    this.reader.close();
  }

  private async assertTopic(topic: string): Promise<void> {
    if (!(await this.topicExists(topic))) {
      const known = this.reader.topics().map((spec) => spec.name);
      throw new UsageError(
        `${this.description} has no topic ${topic}; it has: ${known.join(', ') || 'none'}`,
      );
    }
  }
}

/** Waits, or less when the signal aborts. */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
