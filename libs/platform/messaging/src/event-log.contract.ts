import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { EventLog, IncomingRecord, OutgoingRecord, RecordBatch, Subscription } from './event-log.port';
import { partitionForKey } from './partitioner';

/**
 * Fresh names and log instances for one test. `open` may be called several times: each call is a new
 * client over the same log (a restart, or another process).
 */
export interface EventLogHarness {
  open(): Promise<EventLog>;
  name(prefix: string): string;
  /** How long to wait for records to arrive. */
  readonly deliveryTimeoutMs: number;
  dispose(): Promise<void>;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export const aRecord = (key: string, value: string, extra: Partial<OutgoingRecord> = {}): OutgoingRecord => ({
  key,
  value: encoder.encode(value),
  ...extra,
});

export const valueOf = (record: IncomingRecord): string => decoder.decode(record.value);

/** Keys that together cover every partition of a topic with `partitions` partitions. */
function keysCoveringPartitions(partitions: number, perPartition: number): string[] {
  const byPartition = new Map<number, string[]>();
  for (let index = 0; [...byPartition.values()].flat().length < partitions * perPartition; index++) {
    const key = `account-${index}`;
    const keys = byPartition.get(partitionForKey(key, partitions)) ?? [];
    if (keys.length < perPartition) byPartition.set(partitionForKey(key, partitions), [...keys, key]);
  }
  return [...byPartition.values()].flat();
}

/** The event log port's contract; every adapter runs it. */
export function describeEventLogContract(
  adapter: string,
  createHarness: () => Promise<EventLogHarness>,
): void {
  describe(`the ${adapter} event log`, () => {
    let harness: EventLogHarness;
    let log: EventLog;
    let subscriptions: Subscription[];
    let logs: EventLog[];

    const open = async (): Promise<EventLog> => {
      const opened = await harness.open();
      logs.push(opened);
      return opened;
    };

    const newTopic = async (partitions: number, on: EventLog = log): Promise<string> => {
      const topic = harness.name('topic');
      await on.ensureTopics([{ name: topic, partitions }]);
      return topic;
    };

    /** Subscribes and records every delivered batch; `fail` may throw to refuse a batch. */
    const consume = async (
      options: { groupId: string; topics: string[]; fromBeginning?: boolean; on?: EventLog },
      fail: (batch: RecordBatch) => void = () => undefined,
    ) => {
      const deliveries: RecordBatch[] = [];
      const handled: IncomingRecord[] = [];
      const subscription = await (options.on ?? log).subscribe({
        groupId: options.groupId,
        topics: options.topics,
        ...(options.fromBeginning === undefined ? {} : { fromBeginning: options.fromBeginning }),
        onBatch: async (batch) => {
          deliveries.push(batch);
          fail(batch);
          handled.push(...batch.records);
        },
      });
      subscriptions.push(subscription);
      return { deliveries, handled, subscription };
    };

    const eventually = (assertion: () => void): Promise<void> =>
      vi.waitFor(assertion, { timeout: harness.deliveryTimeoutMs, interval: 20 });

    const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 500));

    beforeEach(async () => {
      subscriptions = [];
      logs = [];
      harness = await createHarness();
      log = await open();
    });

    afterEach(async () => {
      for (const subscription of subscriptions) await subscription.stop();
      for (const opened of logs) await opened.close();
      await harness.dispose();
    });

    describe('when records are published with keys', () => {
      it('a subscriber sees every record of a key in the order it was published', async () => {
        const topic = await newTopic(4);
        const keys = keysCoveringPartitions(4, 2);
        for (let round = 0; round < 10; round++) {
          await log.publish(
            topic,
            keys.map((key) => aRecord(key, `${key}#${round}`)),
          );
        }

        const { handled } = await consume({ groupId: harness.name('group'), topics: [topic] });

        await eventually(() => expect(handled).toHaveLength(keys.length * 10));
        for (const key of keys) {
          const values = handled.filter((record) => record.key === key).map(valueOf);
          expect(values).toEqual(Array.from({ length: 10 }, (_, round) => `${key}#${round}`));
        }
      });

      it("puts one key's records in one partition, the one Kafka's default partitioner picks", async () => {
        const topic = await newTopic(6);
        const keys = ['account-1', 'account-2', 'account-3', 'a-little-bit-long-string', ''];
        await log.publish(
          topic,
          keys.flatMap((key) => [aRecord(key, 'first'), aRecord(key, 'second')]),
        );

        const { handled } = await consume({ groupId: harness.name('group'), topics: [topic] });

        await eventually(() => expect(handled).toHaveLength(keys.length * 2));
        for (const key of keys) {
          const partitions = new Set(
            handled.filter((record) => record.key === key).map((record) => record.partition),
          );
          expect([...partitions]).toEqual([partitionForKey(key, 6)]);
        }
      });

      it('delivers value bytes, headers and the given timestamp unchanged, with increasing offsets', async () => {
        const topic = await newTopic(1);
        const value = new Uint8Array([0, 255, 1, 254, 10]);
        await log.publish(topic, [
          {
            key: 'account-1',
            value,
            headers: { 'tandem-event-id': 'e-1', traceparent: 'tp' },
            timestamp: 1_700_000_000_123,
          },
          aRecord('account-1', 'no headers'),
        ]);

        const { handled, deliveries } = await consume({ groupId: harness.name('group'), topics: [topic] });

        await eventually(() => expect(handled).toHaveLength(2));
        expect(deliveries.every((batch) => batch.topic === topic && batch.partition === 0)).toBe(true);
        const [first, second] = handled;
        expect(first).toMatchObject({ topic, partition: 0, key: 'account-1', timestamp: 1_700_000_000_123 });
        expect([...first!.value]).toEqual([...value]);
        expect(first!.headers).toEqual({ 'tandem-event-id': 'e-1', traceparent: 'tp' });
        expect(second!.headers).toEqual({});
        expect(Math.abs(second!.timestamp - Date.now())).toBeLessThan(60_000);
        expect(BigInt(second!.offset)).toBe(BigInt(first!.offset) + 1n);
      });

      it('creating topics again changes nothing', async () => {
        const topic = await newTopic(3);
        await log.ensureTopics([{ name: topic, partitions: 3 }]);
        await log.publish(topic, [aRecord('account-1', 'kept')]);

        await log.ensureTopics([{ name: topic, partitions: 3 }]);
        const { handled } = await consume({ groupId: harness.name('group'), topics: [topic] });

        await eventually(() => expect(handled.map(valueOf)).toEqual(['kept']));
      });
    });

    describe('when several clients create the same topics at once', () => {
      it('each can subscribe and publish as soon as its own call returned', async () => {
        const topics = Array.from({ length: 8 }, () => harness.name('topic'));
        const clients = await Promise.all(Array.from({ length: 6 }, () => open()));

        const consumers = await Promise.all(
          clients.map(async (client, index) => {
            await client.ensureTopics(topics.map((name) => ({ name, partitions: 3 })));
            const consumer = await consume({ groupId: harness.name('group'), topics, on: client });
            await Promise.all(
              topics.map((topic) =>
                client.publish(topic, [aRecord(`account-${index}`, `${topic}/${index}`)]),
              ),
            );
            return consumer;
          }),
        );

        const expected = topics.flatMap((topic) => clients.map((_, index) => `${topic}/${index}`)).sort();
        for (const { handled } of consumers) {
          await eventually(() => expect(handled.map(valueOf).sort()).toEqual(expected));
        }
      });
    });

    describe('when a consumer group stops and subscribes again', () => {
      it('continues after the committed offset, also from a new client', async () => {
        const topic = await newTopic(2);
        const groupId = harness.name('group');
        await log.publish(
          topic,
          Array.from({ length: 10 }, (_, index) => aRecord(`account-${index % 3}`, `old-${index}`)),
        );
        const first = await consume({ groupId, topics: [topic] });
        await eventually(() => expect(first.handled).toHaveLength(10));
        await first.subscription.stop();

        await log.publish(
          topic,
          Array.from({ length: 5 }, (_, index) => aRecord(`account-${index % 3}`, `new-${index}`)),
        );
        const second = await consume({ groupId, topics: [topic], on: await open() });

        await eventually(() => expect(second.handled).toHaveLength(5));
        await settle();
        expect(second.handled.map(valueOf).sort()).toEqual(['new-0', 'new-1', 'new-2', 'new-3', 'new-4']);
      });

      it('a batch in hand when stop() is called finishes and is committed', async () => {
        const topic = await newTopic(1);
        const groupId = harness.name('group');
        await log.publish(topic, [aRecord('account-1', 'slow')]);
        let finished = false;
        let started!: () => void;
        const handlerStarted = new Promise<void>((resolve) => (started = resolve));
        const subscription = await log.subscribe({
          groupId,
          topics: [topic],
          onBatch: async () => {
            started();
            await new Promise((resolve) => setTimeout(resolve, 300));
            finished = true;
          },
        });
        await handlerStarted;

        await subscription.stop();

        expect(finished).toBe(true);
        await log.publish(topic, [aRecord('account-1', 'after')]);
        const again = await consume({ groupId, topics: [topic] });
        await eventually(() => expect(again.handled).toHaveLength(1));
        await settle();
        expect(again.handled.map(valueOf)).toEqual(['after']);
      });

      it('a batch in hand given up when stop() is called is not committed: the group gets it again', async () => {
        const topic = await newTopic(1);
        const groupId = harness.name('group');
        await log.publish(topic, [aRecord('account-1', 'long'), aRecord('account-1', 'work')]);
        let started!: () => void;
        const handlerStarted = new Promise<void>((resolve) => (started = resolve));
        let gaveUp = false;
        const subscription = await log.subscribe({
          groupId,
          topics: [topic],
          onBatch: async (_batch, stopping) => {
            started();
            await new Promise<void>((resolve) => stopping.addEventListener('abort', () => resolve()));
            gaveUp = true;
            stopping.throwIfAborted();
          },
        });
        await handlerStarted;

        await subscription.stop();

        expect(gaveUp).toBe(true);
        const again = await consume({ groupId, topics: [topic] });
        await eventually(() => expect(again.handled.map(valueOf)).toEqual(['long', 'work']));
      });
    });

    describe('when a subscriber commits its positions itself', () => {
      it('resumes after what it committed, not after what it was handed, and is told its partitions', async () => {
        const topic = await newTopic(1);
        const groupId = harness.name('group');
        await log.publish(
          topic,
          Array.from({ length: 6 }, (_, index) => aRecord('account-1', `record-${index}`)),
        );
        const handled: IncomingRecord[] = [];
        const assignments: { topic: string; partition: number }[][] = [];
        const first = await log.subscribe({
          groupId,
          topics: [topic],
          manualCommit: true,
          onAssigned: (partitions) => assignments.push([...partitions]),
          onBatch: async (batch) => {
            handled.push(...batch.records);
          },
        });
        subscriptions.push(first);
        await eventually(() => expect(handled).toHaveLength(6));
        await eventually(() => expect(assignments.at(-1)).toEqual([{ topic, partition: 0 }]));
        await first.commit([{ topic, partition: 0, nextOffset: handled[2]!.offset }]);
        await first.stop();

        const second = await consume({ groupId, topics: [topic], on: await open() });
        await eventually(() => expect(second.handled).toHaveLength(4));
        await settle();
        expect(second.handled.map(valueOf)).toEqual(['record-2', 'record-3', 'record-4', 'record-5']);
      });
    });

    describe('when the handler fails', () => {
      it('the batch comes again after a backoff, nothing is skipped and order is kept', async () => {
        const topic = await newTopic(1);
        await log.publish(
          topic,
          Array.from({ length: 10 }, (_, index) => aRecord('account-1', `r${index}`)),
        );
        let failures = 0;
        const { deliveries, handled } = await consume(
          { groupId: harness.name('group'), topics: [topic] },
          (batch) => {
            if (failures < 2 && batch.records.some((record) => valueOf(record) === 'r3')) {
              failures += 1;
              throw new Error('projection store unavailable');
            }
          },
        );

        await eventually(() => expect(handled.map(valueOf)).toContain('r9'));
        expect(failures).toBe(2);
        const distinct = [...new Set(handled.map(valueOf))];
        expect(distinct).toEqual(Array.from({ length: 10 }, (_, index) => `r${index}`));
        const offsets = handled.map((record) => BigInt(record.offset));
        expect(offsets).toEqual([...offsets].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
        const failed = deliveries.filter((batch) => batch.records.some((record) => valueOf(record) === 'r3'));
        expect(failed.length).toBeGreaterThanOrEqual(3);
        expect(failed.map((batch) => batch.records[0]!.offset)).toEqual(
          failed.map(() => failed[0]!.records[0]!.offset),
        );
      });

      it('commits nothing of the failed batch: a new member of the group gets it again', async () => {
        const topic = await newTopic(1);
        const groupId = harness.name('group');
        await log.publish(topic, [aRecord('account-1', 'poison'), aRecord('account-1', 'next')]);
        const failing = await consume({ groupId, topics: [topic] }, () => {
          throw new Error('always failing');
        });
        await eventually(() => expect(failing.deliveries.length).toBeGreaterThanOrEqual(1));
        await failing.subscription.stop();

        const healthy = await consume({ groupId, topics: [topic], on: await open() });

        await eventually(() => expect(healthy.handled.map(valueOf)).toEqual(['poison', 'next']));
      });
    });

    describe('when two consumer groups subscribe to one topic', () => {
      it('each group gets every record', async () => {
        const topic = await newTopic(3);
        const records = Array.from({ length: 12 }, (_, index) =>
          aRecord(`account-${index % 4}`, `r${index}`),
        );
        await log.publish(topic, records);

        const [projection, processManager] = await Promise.all([
          consume({ groupId: harness.name('projection'), topics: [topic] }),
          consume({ groupId: harness.name('process-manager'), topics: [topic] }),
        ]);

        for (const group of [projection, processManager]) {
          await eventually(() => expect(group.handled).toHaveLength(12));
          expect(group.handled.map(valueOf).sort()).toEqual(
            records.map((record) => decoder.decode(record.value)).sort(),
          );
        }
      });
    });

    describe('when two subscriptions share a group', () => {
      it('splits the partitions between them, and the survivor takes over when one stops', async () => {
        const topic = await newTopic(4);
        const groupId = harness.name('group');
        const keys = keysCoveringPartitions(4, 2);
        const left = await consume({ groupId, topics: [topic] });
        const right = await consume({ groupId, topics: [topic], on: await open() });

        await log.publish(
          topic,
          keys.map((key) => aRecord(key, `${key}@1`)),
        );

        await eventually(() => expect(left.handled.length + right.handled.length).toBe(keys.length));
        expect(left.handled.length).toBeGreaterThan(0);
        expect(right.handled.length).toBeGreaterThan(0);
        const leftPartitions = new Set(left.handled.map((record) => record.partition));
        expect(right.handled.some((record) => leftPartitions.has(record.partition))).toBe(false);

        await right.subscription.stop();
        await log.publish(
          topic,
          keys.map((key) => aRecord(key, `${key}@2`)),
        );

        await eventually(() =>
          expect(left.handled.filter((record) => valueOf(record).endsWith('@2'))).toHaveLength(keys.length),
        );
      });
    });

    describe('when a group subscribes from the end', () => {
      it('sees only records published after subscribe() returned', async () => {
        const topic = await newTopic(2);
        await log.publish(topic, [aRecord('account-1', 'before-1'), aRecord('account-2', 'before-2')]);

        const live = await consume({ groupId: harness.name('live'), topics: [topic], fromBeginning: false });
        await log.publish(topic, [aRecord('account-1', 'after-1'), aRecord('account-2', 'after-2')]);

        await eventually(() => expect(live.handled).toHaveLength(2));
        await settle();
        expect(live.handled.map(valueOf).sort()).toEqual(['after-1', 'after-2']);
      });
    });

    describe('when the log is opened again', () => {
      it('a new client reads every record published before', async () => {
        const topic = await newTopic(2);
        await log.publish(
          topic,
          Array.from({ length: 6 }, (_, index) => aRecord(`account-${index}`, `r${index}`)),
        );
        await log.close();

        const reopened = await open();
        const { handled } = await consume({ groupId: harness.name('group'), topics: [topic], on: reopened });

        await eventually(() => expect(handled).toHaveLength(6));
        expect(handled.map(valueOf).sort()).toEqual(['r0', 'r1', 'r2', 'r3', 'r4', 'r5']);
      });
    });
  });
}
