import { randomUUID } from 'node:crypto';
import { type KafkaSecurity, PLAINTEXT } from '@tandem/config';
import {
  type IncomingRecord,
  incomingRecordOf,
  kafkaClientSecurity,
  type RecordBatch,
} from '@tandem/messaging';
import { type Admin, Kafka, logLevel } from 'kafkajs';
import { UsageError } from './connection';
import type { GroupPositions, LogSource, ReadOptions } from './log-source';
import type { PartitionPlan, PartitionRange } from './positions';

/** How often a read says it is alive while a batch is being handled (a rebuild writes for a while). */
const HEARTBEAT_MS = 3_000;

/** Consumer groups of the replay tools themselves: each read joins one, alone, and deletes it after. */
export const READER_GROUP_PREFIX = 'tandem-cli-reader-';

/**
 * A topic on Kafka. A read is a consumer with a fresh group of its own, which never commits: it
 * seeks each planned partition to its start, pauses the others and stops when every partition
 * reached the end it had when the read began (unless it follows). Tandem's groups are never joined.
 */
export class KafkaLogSource implements LogSource {
  readonly description: string;
  private readonly kafka: Kafka;
  private admin: Promise<Admin> | undefined;

  constructor(
    brokers: readonly string[],
    private readonly reportError: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
    security: KafkaSecurity = PLAINTEXT,
  ) {
    this.description = `Kafka at ${brokers.join(',')}`;
    this.kafka = new Kafka({
      clientId: 'tandem-cli',
      brokers: [...brokers],
      ...kafkaClientSecurity(security),
      logLevel: logLevel.ERROR,
      // kafkajs logs to stdout by default; stdout is for events.
      logCreator:
        () =>
        ({ namespace, log }) => {
          const { message, error } = log as { message: string; error?: string };
          this.reportError(`kafkajs ${namespace}: ${message}${error ? ` (${error})` : ''}`);
        },
      retry: { retries: 3 },
    });
  }

  async topicExists(topic: string): Promise<boolean> {
    return (await (await this.connectedAdmin()).listTopics()).includes(topic);
  }

  async partitions(topic: string): Promise<PartitionRange[]> {
    await this.assertTopic(topic);
    const offsets = await (await this.connectedAdmin()).fetchTopicOffsets(topic);
    return offsets
      .map(({ partition, low, high }) => ({ partition, low: BigInt(low), high: BigInt(high) }))
      .sort((a, b) => a.partition - b.partition);
  }

  async offsetsForTime(topic: string, timestamp: number): Promise<Map<number, bigint>> {
    await this.assertTopic(topic);
    const offsets = await (await this.connectedAdmin()).fetchTopicOffsetsByTimestamp(topic, timestamp);
    return new Map(offsets.map(({ partition, offset }) => [partition, BigInt(offset)]));
  }

  async read(
    topic: string,
    plans: readonly PartitionPlan[],
    onBatch: (batch: RecordBatch) => Promise<void> | void,
    options: ReadOptions,
  ): Promise<void> {
    const pending = new Map(
      plans
        .filter((plan) => plan.to === undefined || plan.from < plan.to)
        .map((plan) => [plan.partition, plan]),
    );
    if (pending.size === 0 || options.signal?.aborted) return;
    const all = await this.partitions(topic);
    const next = new Map([...pending.values()].map((plan) => [plan.partition, plan.from]));
    const groupId = `${READER_GROUP_PREFIX}${randomUUID()}`;
    const consumer = this.kafka.consumer({
      groupId,
      allowAutoTopicCreation: false,
      maxWaitTimeInMs: options.follow ? 500 : 100,
      maxBytesPerPartition: 4 * 1024 * 1024,
      maxBytes: 32 * 1024 * 1024,
      sessionTimeout: 30_000,
    });

    let finished = false;
    let settle: (error?: unknown) => void = () => undefined;
    const done = new Promise<void>((resolve, reject) => {
      settle = (error) => {
        if (finished) return;
        finished = true;
        if (error === undefined) resolve();
        else reject(error);
      };
    });
    const onAbort = () => settle();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (!payload.restart) settle(payload.error);
    });

    try {
      await consumer.connect();
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachBatch: async ({ batch, isRunning, isStale, heartbeat }) => {
          if (finished || !isRunning() || isStale()) return;
          const plan = pending.get(batch.partition);
          if (!plan) return;
          // After a rebalance kafkajs may fetch again from the start: what was handed over is skipped.
          const from = next.get(batch.partition)!;
          const { messages } = batch;
          // Offsets ascend: only the ends of a batch can fall outside the plan.
          const offsetAt = (index: number) => BigInt(messages[index]!.offset);
          let first = 0;
          while (first < messages.length && offsetAt(first) < from) first += 1;
          let end = messages.length;
          let reachedEnd = false;
          if (plan.to !== undefined) {
            while (end > first && offsetAt(end - 1) >= plan.to) {
              end -= 1;
              reachedEnd = true;
            }
          }
          const records: IncomingRecord[] = new Array<IncomingRecord>(end - first);
          for (let index = first; index < end; index++) {
            records[index - first] = incomingRecordOf(topic, batch.partition, messages[index]!);
          }
          const last = records.at(-1);
          if (plan.to !== undefined && last && BigInt(last.offset) + 1n >= plan.to) reachedEnd = true;
          if (records.length > 0) {
            const beat = setInterval(() => void heartbeat().catch(() => undefined), HEARTBEAT_MS);
            try {
              await onBatch({ topic, partition: batch.partition, records });
            } catch (error) {
              settle(error);
              return;
            } finally {
              clearInterval(beat);
            }
            next.set(batch.partition, BigInt(last!.offset) + 1n);
          }
          if (reachedEnd) {
            pending.delete(batch.partition);
            consumer.pause([{ topic, partitions: [batch.partition] }]);
            if (pending.size === 0) settle();
          }
        },
      });
      const unplanned = all.map((range) => range.partition).filter((partition) => !pending.has(partition));
      if (unplanned.length > 0) consumer.pause([{ topic, partitions: unplanned }]);
      for (const plan of pending.values()) {
        consumer.seek({ topic, partition: plan.partition, offset: plan.from.toString() });
      }
      await done;
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
      finished = true;
      await consumer.disconnect().catch(() => undefined);
      await this.connectedAdmin()
        .then((admin) => admin.deleteGroups([groupId]))
        .catch(() => undefined);
    }
  }

  async groups(topic: string): Promise<GroupPositions[]> {
    await this.assertTopic(topic);
    const admin = await this.connectedAdmin();
    const { groups } = await admin.listGroups();
    const candidates = groups
      .map((group) => group.groupId)
      .filter((groupId) => !groupId.startsWith(READER_GROUP_PREFIX))
      .sort();
    const positions: GroupPositions[] = [];
    for (const groupId of candidates) {
      const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
      const committed = new Map<number, bigint>();
      for (const { partition, offset } of offsets?.partitions ?? []) {
        if (BigInt(offset) >= 0n) committed.set(partition, BigInt(offset));
      }
      if (committed.size > 0) positions.push({ groupId, committed, members: undefined });
    }
    if (positions.length === 0) return positions;
    const descriptions = await admin.describeGroups(positions.map((group) => group.groupId));
    return positions.map((group) => {
      const description = descriptions.groups.find((candidate) => candidate.groupId === group.groupId);
      return { ...group, members: description?.members.length ?? 0, state: description?.state ?? 'unknown' };
    });
  }

  /** The group's state and how many members it has now. */
  async describeGroup(groupId: string): Promise<{ state: string; members: string[] }> {
    const admin = await this.connectedAdmin();
    const { groups } = await admin.describeGroups([groupId]);
    const group = groups[0];
    return {
      state: group?.state ?? 'Dead',
      members: (group?.members ?? []).map((member) => `${member.clientId} ${member.clientHost}`.trim()),
    };
  }

  async setOffsets(groupId: string, topic: string, offsets: ReadonlyMap<number, bigint>): Promise<void> {
    const admin = await this.connectedAdmin();
    await admin.setOffsets({
      groupId,
      topic,
      partitions: [...offsets].map(([partition, offset]) => ({ partition, offset: offset.toString() })),
    });
  }

  async close(): Promise<void> {
    const admin = this.admin;
    this.admin = undefined;
    await admin?.then((connected) => connected.disconnect()).catch(() => undefined);
  }

  private async assertTopic(topic: string): Promise<void> {
    if (!(await this.topicExists(topic))) {
      throw new UsageError(`${this.description} has no topic ${topic}`);
    }
  }

  private connectedAdmin(): Promise<Admin> {
    if (!this.admin) {
      const admin = this.kafka.admin();
      this.admin = admin.connect().then(
        () => admin,
        (error: unknown) => {
          this.admin = undefined;
          throw error;
        },
      );
    }
    return this.admin;
  }
}
