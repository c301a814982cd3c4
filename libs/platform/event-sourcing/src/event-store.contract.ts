import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConcurrencyError, type EventStore, type NewEvent, type PendingCommit } from './event-store.port';

/** Fresh storage for one test; `open` may be called again for a new instance over the same storage. */
export interface EventStoreHarness {
  open(options?: { readonly now?: () => Date }): Promise<EventStore>;
  dispose(): Promise<void>;
}

/** An event as a command handler would produce it; `label` ends up in the payload. */
export function anEvent(label: string, overrides: Partial<NewEvent> = {}): NewEvent {
  return {
    eventId: randomUUID(),
    type: 'SomethingHappened',
    partitionKey: 'account-1',
    occurredAt: new Date('2026-11-01T10:00:00.123Z'),
    correlationId: 'correlation-1',
    causationId: 'causation-1',
    traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    tracestate: 'vendor=value',
    payload: new TextEncoder().encode(label),
    ...overrides,
  };
}

const labels = (events: readonly { payload: Uint8Array }[]): string[] =>
  events.map((event) => new TextDecoder().decode(event.payload));

/** Drains the outbox page by page, marking each page published, as the relay does. */
async function drainOutbox(store: EventStore, pageSize: number): Promise<PendingCommit[]> {
  const drained: PendingCommit[] = [];
  for (;;) {
    const page = await store.readUnpublished(pageSize);
    if (page.length === 0) return drained;
    drained.push(...page);
    await store.markPublished(page.map((commit) => commit.commitId));
  }
}

/** The event store port's contract; every adapter runs it. */
export function describeEventStoreContract(
  adapter: string,
  createHarness: () => Promise<EventStoreHarness>,
): void {
  describe(`the ${adapter} event store`, () => {
    let harness: EventStoreHarness;
    let store: EventStore;
    const opened: EventStore[] = [];
    const open = async (options?: { readonly now?: () => Date }): Promise<EventStore> => {
      const instance = await harness.open(options);
      opened.push(instance);
      return instance;
    };

    beforeEach(async () => {
      harness = await createHarness();
      store = await open();
    });

    afterEach(async () => {
      for (const instance of opened.splice(0)) await instance.close();
      await harness.dispose();
    });

    describe('when a command appends to a new stream', () => {
      it('stores the events with versions from 1 and returns the last version', async () => {
        const version = await store.appendToStream('stream-a', 0, [
          anEvent('a1'),
          anEvent('a2'),
          anEvent('a3'),
        ]);

        expect(version).toBe(3);
        const events = await store.readStream('stream-a');
        expect(events.map((event) => event.version)).toEqual([1, 2, 3]);
        expect(events.every((event) => event.streamId === 'stream-a')).toBe(true);
        expect(labels(events)).toEqual(['a1', 'a2', 'a3']);
      });

      it('keeps every field of each event, payload bytes included', async () => {
        const payload = new Uint8Array([0, 1, 2, 253, 254, 255]);
        const event = anEvent('ignored', { payload, partitionKey: 'account-9', type: 'DeviceLinked' });

        await store.appendToStream('stream-a', 0, [event]);

        const [stored] = await store.readStream('stream-a');
        expect(stored).toEqual({ ...event, streamId: 'stream-a', version: 1 });
        expect(stored!.payload).toBeInstanceOf(Uint8Array);
        expect([...stored!.payload]).toEqual([0, 1, 2, 253, 254, 255]);
        expect(stored!.occurredAt.getTime()).toBe(event.occurredAt.getTime());
      });

      it('reads a stream that does not exist as empty', async () => {
        expect(await store.readStream('nobody')).toEqual([]);
      });
    });

    describe('when a command appends at the version it read as the stream end', () => {
      it('continues the stream without gaps', async () => {
        await store.appendToStream('stream-a', 0, [anEvent('a1'), anEvent('a2')]);

        const version = await store.appendToStream('stream-a', 2, [anEvent('a3')]);

        expect(version).toBe(3);
        expect(labels(await store.readStream('stream-a'))).toEqual(['a1', 'a2', 'a3']);
      });

      it('keeps streams apart', async () => {
        await store.appendToStream('stream-a', 0, [anEvent('a1')]);
        await store.appendToStream('stream-b', 0, [anEvent('b1'), anEvent('b2')]);

        expect(labels(await store.readStream('stream-a'))).toEqual(['a1']);
        expect(labels(await store.readStream('stream-b'))).toEqual(['b1', 'b2']);
      });

      it('appends nothing and returns the version when there are no events', async () => {
        await store.appendToStream('stream-a', 0, [anEvent('a1')]);
        await drainOutbox(store, 10);

        expect(await store.appendToStream('stream-a', 1, [])).toBe(1);
        expect(await store.readUnpublished(10)).toEqual([]);
      });
    });

    describe('when two commands append from the same version', () => {
      it('exactly one wins and the stream holds only its events', async () => {
        await store.appendToStream('stream-a', 0, [anEvent('a1')]);

        const results = await Promise.allSettled([
          store.appendToStream('stream-a', 1, [anEvent('left-1'), anEvent('left-2')]),
          store.appendToStream('stream-a', 1, [anEvent('right-1')]),
        ]);

        const fulfilled = results.filter((result) => result.status === 'fulfilled');
        const rejected = results.filter((result) => result.status === 'rejected');
        expect(fulfilled).toHaveLength(1);
        expect(rejected).toHaveLength(1);
        expect(rejected[0]!.reason).toBeInstanceOf(ConcurrencyError);
        expect(rejected[0]!.reason).toMatchObject({ streamId: 'stream-a', expectedVersion: 1 });
        const stream = labels(await store.readStream('stream-a'));
        expect([
          ['a1', 'left-1', 'left-2'],
          ['a1', 'right-1'],
        ]).toContainEqual(stream);
      });

      it('exactly one of many concurrent writers wins, each through its own store instance', async () => {
        const writers = await Promise.all(Array.from({ length: 4 }, () => open()));

        const results = await Promise.allSettled(
          Array.from({ length: 12 }, (_, index) =>
            writers[index % writers.length]!.appendToStream('stream-a', 0, [
              anEvent(`w${index}-1`),
              anEvent(`w${index}-2`),
            ]),
          ),
        );

        expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(1);
        for (const result of results.filter((candidate) => candidate.status === 'rejected')) {
          expect(result.reason).toBeInstanceOf(ConcurrencyError);
        }
        const stream = await store.readStream('stream-a');
        expect(stream.map((event) => event.version)).toEqual([1, 2]);
        expect(new Set(labels(stream).map((label) => label.split('-')[0])).size).toBe(1);
        expect(await store.readUnpublished(100)).toHaveLength(1);
      });
    });

    describe('when many commands append at once', () => {
      it('stores each one, and a stale one among them fails alone, writing nothing', async () => {
        await store.appendToStream('stream-0', 0, [anEvent('first')]);

        const results = await Promise.allSettled([
          ...Array.from({ length: 20 }, (_, index) =>
            store.appendToStream(`stream-${index}`, index === 0 ? 1 : 0, [anEvent(`s${index}`)]),
          ),
          store.appendToStream('stream-0', 0, [anEvent('stale')]),
        ]);

        expect(results.slice(0, 20).map((result) => result.status === 'fulfilled' && result.value)).toEqual(
          Array.from({ length: 20 }, (_, index) => (index === 0 ? 2 : 1)),
        );
        expect(results[20]).toMatchObject({ status: 'rejected', reason: expect.any(ConcurrencyError) });
        expect(labels(await store.readStream('stream-0'))).toEqual(['first', 's0']);
        for (let index = 1; index < 20; index++) {
          expect(labels(await store.readStream(`stream-${index}`))).toEqual([`s${index}`]);
        }
        expect(await drainOutbox(store, 100)).toHaveLength(21);
      });
    });

    describe('when a command appends with a stale expected version', () => {
      it('is refused and writes nothing, not even part of its commit', async () => {
        await store.appendToStream('stream-a', 0, [anEvent('a1')]);
        await store.appendToStream('stream-a', 1, [anEvent('a2'), anEvent('a3')]);

        await expect(
          store.appendToStream('stream-a', 1, [anEvent('stale-1'), anEvent('stale-2'), anEvent('stale-3')]),
        ).rejects.toBeInstanceOf(ConcurrencyError);

        expect(labels(await store.readStream('stream-a'))).toEqual(['a1', 'a2', 'a3']);
        expect((await store.readUnpublished(100)).map((commit) => commit.events.length)).toEqual([1, 2]);
      });

      it('is refused when the expected version lies past the end of the stream', async () => {
        await expect(store.appendToStream('stream-a', 2, [anEvent('a3')])).rejects.toBeInstanceOf(
          ConcurrencyError,
        );
        await store.appendToStream('stream-a', 0, [anEvent('a1')]);
        await expect(store.appendToStream('stream-a', 5, [anEvent('a6')])).rejects.toBeInstanceOf(
          ConcurrencyError,
        );

        expect(labels(await store.readStream('stream-a'))).toEqual(['a1']);
      });
    });

    describe('when commits wait in the outbox', () => {
      it('hands them out oldest first, each stream in version order, and never twice once marked', async () => {
        for (let round = 0; round < 5; round++) {
          for (const stream of ['stream-a', 'stream-b', 'stream-c']) {
            const events =
              round % 2 === 0
                ? [anEvent(`${stream}-${round}`)]
                : [anEvent(`${stream}-${round}`), anEvent(`${stream}-${round}b`)];
            const current = (await store.readStream(stream)).length;
            await store.appendToStream(stream, current, events);
          }
        }

        const drained = await drainOutbox(store, 4);

        expect(drained).toHaveLength(15);
        expect(new Set(drained.map((commit) => commit.commitId)).size).toBe(15);
        for (const stream of ['stream-a', 'stream-b', 'stream-c']) {
          const versions = drained
            .filter((commit) => commit.streamId === stream)
            .flatMap((commit) => commit.events.map((event) => event.version));
          expect(versions).toEqual([1, 2, 3, 4, 5, 6, 7]);
        }
        expect(await store.readUnpublished(100)).toEqual([]);
      });

      it('never hands out a commit before an earlier unpublished commit of its stream', async () => {
        await store.appendToStream('stream-a', 0, [anEvent('a1')]);
        await store.appendToStream('stream-b', 0, [anEvent('b1')]);
        await store.appendToStream('stream-a', 1, [anEvent('a2')]);
        await store.appendToStream('stream-a', 2, [anEvent('a3')]);

        for (let limit = 1; limit <= 4; limit++) {
          const page = await store.readUnpublished(limit);
          expect(page).toHaveLength(limit);
          const streamA = page
            .filter((commit) => commit.streamId === 'stream-a')
            .map((commit) => labels(commit.events)[0]);
          expect(streamA).toEqual(['a1', 'a2', 'a3'].slice(0, streamA.length));
        }
      });

      it('keeps a stream ordered by commit time even when the clock goes back', async () => {
        const times = ['2026-11-01T10:00:05Z', '2026-11-01T10:00:01Z', '2026-11-01T09:00:00Z'].map(
          (time) => new Date(time),
        );
        const clocked = await open({ now: () => times.shift() ?? new Date('2026-11-01T08:00:00Z') });

        await clocked.appendToStream('stream-a', 0, [anEvent('a1')]);
        await clocked.appendToStream('stream-b', 0, [anEvent('b1')]);
        await clocked.appendToStream('stream-a', 1, [anEvent('a2')]);

        const commits = await clocked.readUnpublished(10);
        const streamA = commits.filter((commit) => commit.streamId === 'stream-a');
        expect(streamA.map((commit) => labels(commit.events)[0])).toEqual(['a1', 'a2']);
        expect(streamA[1]!.committedAt.getTime()).toBeGreaterThanOrEqual(streamA[0]!.committedAt.getTime());
        const streamB = commits.find((commit) => commit.streamId === 'stream-b')!;
        expect(streamB.committedAt.toISOString()).toBe('2026-11-01T10:00:01.000Z');
      });

      it('marks only the commits it is given, and ignores ids it does not know', async () => {
        await store.appendToStream('stream-a', 0, [anEvent('a1')]);
        await store.appendToStream('stream-a', 1, [anEvent('a2')]);
        const [first] = await store.readUnpublished(1);

        await store.markPublished([first!.commitId]);
        await store.markPublished([]);

        const remaining = await store.readUnpublished(10);
        expect(remaining.map((commit) => labels(commit.events))).toEqual([['a2']]);
      });
    });

    describe('when the store is opened again', () => {
      it('a new instance sees every stream and what is still unpublished', async () => {
        await store.appendToStream('stream-a', 0, [anEvent('a1'), anEvent('a2')]);
        await store.appendToStream('stream-b', 0, [anEvent('b1')]);
        const [first] = await store.readUnpublished(1);
        await store.markPublished([first!.commitId]);
        await store.close();

        const reopened = await open();

        expect(labels(await reopened.readStream('stream-a'))).toEqual(['a1', 'a2']);
        expect((await reopened.readUnpublished(10)).map((commit) => commit.streamId)).toEqual(['stream-b']);
        await expect(reopened.appendToStream('stream-a', 1, [anEvent('stale')])).rejects.toBeInstanceOf(
          ConcurrencyError,
        );
        expect(await reopened.appendToStream('stream-a', 2, [anEvent('a3')])).toBe(3);
      });
    });
  });
}
