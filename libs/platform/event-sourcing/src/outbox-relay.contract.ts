import type { EventLog, IncomingRecord, OutgoingRecord, Subscription } from '@tandem/messaging';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { anEvent } from './event-store.contract';
import type { EventStore, StoredEvent } from './event-store.port';
import { OutboxRelay, type OutboxRelayOptions } from './outbox-relay';

/** A store and a log for one test, both fresh. */
export interface OutboxRelayHarness {
  readonly store: EventStore;
  readonly log: EventLog;
  name(prefix: string): string;
  /** How long to wait for records to arrive. */
  readonly deliveryTimeoutMs: number;
  dispose(): Promise<void>;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A stand-in for the envelope codec: the value names the stream and version. */
const encode = (event: StoredEvent): OutgoingRecord => ({
  key: event.partitionKey,
  value: encoder.encode(`${event.streamId}/${event.version}`),
  headers: { 'tandem-event-id': event.eventId },
});

const position = (record: IncomingRecord): { streamId: string; version: number } => {
  const [streamId, version] = decoder.decode(record.value).split('/');
  return { streamId: streamId!, version: Number(version) };
};

/** Versions of one stream in the order the consumer saw them. */
const versionsOf = (records: readonly IncomingRecord[], streamId: string): number[] =>
  records
    .map(position)
    .filter((seen) => seen.streamId === streamId)
    .map((seen) => seen.version);

/** True when every version arrives no later than right after the highest one seen so far. */
const hasNoGaps = (versions: readonly number[]): boolean => {
  let highest = 0;
  for (const version of versions) {
    if (version > highest + 1) return false;
    highest = Math.max(highest, version);
  }
  return true;
};

/** The relay's behaviour over a store and a log adapter pair (embedded, or MongoDB and Kafka). */
export function describeOutboxRelayContract(
  adapters: string,
  createHarness: () => Promise<OutboxRelayHarness>,
): void {
  describe(`the outbox relay over ${adapters}`, () => {
    let harness: OutboxRelayHarness;
    let topic: string;
    let relays: OutboxRelay[];
    let subscriptions: Subscription[];
    let reported: { message: string; error: unknown; context: Readonly<Record<string, unknown>> }[];

    const relay = (options: Partial<OutboxRelayOptions> = {}): OutboxRelay => {
      const created = new OutboxRelay({
        store: harness.store,
        log: harness.log,
        topic,
        encode,
        retryBackoff: { initialMs: 10, maxMs: 100 },
        onError: (message, error, context) => reported.push({ message, error, context }),
        ...options,
      });
      relays.push(created);
      return created;
    };

    const consume = async (): Promise<IncomingRecord[]> => {
      const records: IncomingRecord[] = [];
      subscriptions.push(
        await harness.log.subscribe({
          groupId: harness.name('consumer'),
          topics: [topic],
          onBatch: async (batch) => {
            records.push(...batch.records);
          },
        }),
      );
      return records;
    };

    const appendInTurn = async (streamId: string, commits: number, partitionKey: string): Promise<number> => {
      let version = 0;
      for (let commit = 0; commit < commits; commit++) {
        const events = Array.from({ length: 1 + (commit % 2) }, () => anEvent(streamId, { partitionKey }));
        version = await harness.store.appendToStream(streamId, version, events);
      }
      return version;
    };

    const eventually = (assertion: () => void | Promise<void>): Promise<void> =>
      vi.waitFor(assertion, { timeout: harness.deliveryTimeoutMs, interval: 20 });

    beforeEach(async () => {
      relays = [];
      subscriptions = [];
      reported = [];
      harness = await createHarness();
      topic = harness.name('tandem.relay-test.events');
      await harness.log.ensureTopics([{ name: topic, partitions: 3 }]);
    });

    afterEach(async () => {
      for (const started of relays) await started.stop();
      for (const subscription of subscriptions) await subscription.stop();
      await harness.dispose();
    });

    describe('when commands append while the relay runs', () => {
      it('delivers every event once, each stream in version order', async () => {
        const records = await consume();
        const running = relay();
        running.start();
        const streams = ['stream-1', 'stream-2', 'stream-3', 'stream-4', 'stream-5'];

        const lastVersions = await Promise.all(
          streams.map((streamId, index) => appendInTurn(streamId, 6, `account-${index % 2}`)),
        );

        const total = lastVersions.reduce((sum, version) => sum + version, 0);
        await eventually(() => expect(records).toHaveLength(total));
        streams.forEach((streamId, index) =>
          expect(versionsOf(records, streamId)).toEqual(
            Array.from({ length: lastVersions[index]! }, (_, v) => v + 1),
          ),
        );
        await eventually(async () => expect(await harness.store.readUnpublished(10)).toEqual([]));
        expect(reported).toEqual([]);
      });

      it('publishes right after wake(), without waiting for the idle interval', async () => {
        const records = await consume();
        const running = relay({ idleIntervalMs: 600_000 });
        running.start();
        await new Promise((resolve) => setTimeout(resolve, 100));

        const appendedAt = Date.now();
        await harness.store.appendToStream('stream-1', 0, [anEvent('woken')]);
        running.wake();

        await eventually(() => expect(records).toHaveLength(1));
        expect(Date.now() - appendedAt).toBeLessThan(10_000);
      });

      it('goes straight on to the next round after a full batch', async () => {
        for (let stream = 1; stream <= 5; stream++) {
          await harness.store.appendToStream(`stream-${stream}`, 0, [anEvent('queued')]);
        }
        const records = await consume();

        relay({ batchSize: 2, idleIntervalMs: 600_000 }).start();

        await eventually(() => expect(records).toHaveLength(5));
        // The last round is marked published just after the log acknowledged it.
        await eventually(async () => expect(await harness.store.readUnpublished(10)).toEqual([]));
      });
    });

    describe('when the relay crashes after publishing but before marking', () => {
      it('the next relay publishes the commits again: duplicates, never gaps', async () => {
        const records = await consume();
        await appendInTurn('stream-1', 3, 'account-1');
        await appendInTurn('stream-2', 2, 'account-2');
        const crashing = relay({
          store: {
            ...delegate(harness.store),
            markPublished: async () => {
              throw new Error('process killed before marking');
            },
          },
        });
        crashing.start();
        await eventually(() => expect(reported.length).toBeGreaterThanOrEqual(1));
        await crashing.stop();

        relay().start();

        await eventually(async () => expect(await harness.store.readUnpublished(10)).toEqual([]));
        const streams = [
          ['stream-1', 4],
          ['stream-2', 3],
        ] as const;
        await eventually(() => {
          for (const [streamId, last] of streams) {
            const seen = versionsOf(records, streamId);
            for (let version = 1; version <= last; version++) {
              expect(seen.filter((candidate) => candidate === version).length).toBeGreaterThanOrEqual(2);
            }
          }
        });
        for (const [streamId, last] of streams) {
          const seen = versionsOf(records, streamId);
          expect(hasNoGaps(seen)).toBe(true);
          expect(new Set(seen)).toEqual(new Set(Array.from({ length: last }, (_, v) => v + 1)));
        }
      });
    });

    describe('when publishing fails', () => {
      it('retries with backoff, reports each failure and loses nothing', async () => {
        const records = await consume();
        let failuresLeft = 2;
        const flaky: EventLog = {
          ...delegate(harness.log),
          publish: async (target, batch) => {
            if (failuresLeft > 0) {
              failuresLeft -= 1;
              throw new Error('broker unavailable');
            }
            await harness.log.publish(target, batch);
          },
        };
        await appendInTurn('stream-1', 4, 'account-1');

        relay({ log: flaky }).start();

        await eventually(() => expect(versionsOf(records, 'stream-1')).toEqual([1, 2, 3, 4, 5, 6]));
        expect(reported).toHaveLength(2);
        expect(reported[0]!.error).toEqual(new Error('broker unavailable'));
        expect(reported[1]!.context).toMatchObject({ topic, failures: 2 });
        await eventually(async () => expect(await harness.store.readUnpublished(10)).toEqual([]));
      });
    });

    describe('when the log refuses a round as too large', () => {
      it('splits the next rounds until they fit, keeping each stream in order', async () => {
        const records = await consume();
        const small: EventLog = {
          ...delegate(harness.log),
          publish: async (target, batch) => {
            if (batch.length > 2) throw new Error('record batch too large');
            await harness.log.publish(target, batch);
          },
        };
        for (let version = 0; version < 5; version++) {
          await harness.store.appendToStream('stream-1', version, [anEvent('one at a time')]);
        }

        relay({ log: small, batchSize: 8 }).start();

        await eventually(() => expect(versionsOf(records, 'stream-1')).toEqual([1, 2, 3, 4, 5]));
        expect(reported.length).toBeGreaterThanOrEqual(2);
        expect(reported[1]!.context).toMatchObject({ nextRoundSize: 2 });
      });
    });

    describe('when the relay is stopped during a round', () => {
      it('finishes the round: what it published is marked', async () => {
        const records = await consume();
        let publishing!: () => void;
        const publishStarted = new Promise<void>((resolve) => (publishing = resolve));
        const slow: EventLog = {
          ...delegate(harness.log),
          publish: async (target, batch) => {
            publishing();
            await new Promise((resolve) => setTimeout(resolve, 300));
            await harness.log.publish(target, batch);
          },
        };
        await harness.store.appendToStream('stream-1', 0, [anEvent('in hand')]);
        const running = relay({ log: slow });
        running.start();
        await publishStarted;

        await running.stop();

        expect(await harness.store.readUnpublished(10)).toEqual([]);
        await eventually(() => expect(records).toHaveLength(1));
      });
    });
  });
}

/** Forwards every method to `target`, so a test can replace one of them. */
function delegate<T extends object>(target: T): T {
  const methods = Object.getOwnPropertyNames(Object.getPrototypeOf(target)).filter(
    (name) => name !== 'constructor' && typeof (target as Record<string, unknown>)[name] === 'function',
  );
  return Object.fromEntries(
    methods.map((name) => [
      name,
      (...args: unknown[]) => (target as Record<string, (...a: unknown[]) => unknown>)[name]!(...args),
    ]),
  ) as T;
}
