import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Decider, DomainError } from '@tandem/decider';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CommandHandler, TooMuchContentionError } from './command-handler';
import type { EventCodec } from './event-codec';
import { EmbeddedEventStore } from './event-store.embedded';
import { ConcurrencyError, type EventStore } from './event-store.port';

type CounterEvent = { type: 'Incremented'; by: number; accountId: string };
type CounterCommand = { type: 'Increment'; by: number } | { type: 'IncrementTo'; target: number };

/** A counter that refuses to go above 10 and records nothing when already at the target. */
const counter: Decider<CounterCommand, CounterEvent, number> = {
  initialState: () => 0,
  evolve: (state, event) => state + event.by,
  decide(command, state) {
    const by = command.type === 'Increment' ? command.by : command.target - state;
    if (by === 0) return [];
    if (state + by > 10) throw new DomainError('failed-precondition', 'counter would pass 10');
    return [{ type: 'Incremented', by, accountId: 'a1' }];
  },
};

const codec: EventCodec<CounterEvent> = {
  payloadType: 'test.Counter',
  encode: (event) => Buffer.from(JSON.stringify(event)),
  decode: (payload) => JSON.parse(Buffer.from(payload).toString()) as CounterEvent,
  typeOf: (event) => event.type,
  partitionKeyOf: (event) => event.accountId,
};

const context = { correlationId: 'c1', causationId: 'r1', traceparent: '00-abc-def-01' };

describe('the command handler', () => {
  let dataDir: string;
  let store: EmbeddedEventStore;

  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'tandem-handler-'));
    store = new EmbeddedEventStore({ dataDir });
  });

  afterEach(async () => {
    await store.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('appends the decided events with the request context and returns the new state', async () => {
    let woken = 0;
    const handler = new CommandHandler(store, counter, codec, { onAppended: () => woken++ });
    const result = await handler.handle('counter-1', { type: 'Increment', by: 3 }, context);
    expect(result).toEqual({
      events: [{ type: 'Incremented', by: 3, accountId: 'a1' }],
      state: 3,
      version: 1,
    });
    expect(woken).toBe(1);
    const [stored] = await store.readStream('counter-1');
    expect(stored).toMatchObject({
      streamId: 'counter-1',
      version: 1,
      type: 'Incremented',
      partitionKey: 'a1',
      correlationId: 'c1',
      causationId: 'r1',
      traceparent: '00-abc-def-01',
    });
  });

  it('records nothing when the decider decides nothing', async () => {
    const handler = new CommandHandler(store, counter, codec);
    await handler.handle('counter-1', { type: 'Increment', by: 2 }, context);
    const result = await handler.handle('counter-1', { type: 'IncrementTo', target: 2 }, context);
    expect(result).toEqual({ events: [], state: 2, version: 1 });
    expect(await store.readStream('counter-1')).toHaveLength(1);
  });

  it('records nothing when the decider refuses', async () => {
    const handler = new CommandHandler(store, counter, codec);
    await expect(handler.handle('counter-1', { type: 'Increment', by: 11 }, context)).rejects.toThrow(
      /pass 10/,
    );
    expect(await store.readStream('counter-1')).toEqual([]);
  });

  describe('when another writer appends between load and append', () => {
    it('decides again on the new state', async () => {
      const handler = new CommandHandler(store, counter, codec);
      let interfered = false;
      const racing: EventStore = {
        readStream: (id) => store.readStream(id),
        readUnpublished: (limit) => store.readUnpublished(limit),
        markPublished: (ids) => store.markPublished(ids),
        close: () => store.close(),
        async appendToStream(id, expected, events) {
          if (!interfered) {
            interfered = true;
            await handler.handle(id, { type: 'Increment', by: 5 }, context);
          }
          return store.appendToStream(id, expected, events);
        },
      };
      const result = await new CommandHandler(racing, counter, codec).handle(
        'counter-1',
        { type: 'IncrementTo', target: 7 },
        context,
      );
      expect(result.events).toEqual([{ type: 'Incremented', by: 2, accountId: 'a1' }]);
      expect(result).toMatchObject({ state: 7, version: 2 });
    });

    it('gives up after the configured number of attempts', async () => {
      const alwaysConflicting: EventStore = {
        readStream: (id) => store.readStream(id),
        readUnpublished: (limit) => store.readUnpublished(limit),
        markPublished: (ids) => store.markPublished(ids),
        close: () => store.close(),
        appendToStream: async (id, expected) => {
          throw new ConcurrencyError(id, expected);
        },
      };
      const handler = new CommandHandler(alwaysConflicting, counter, codec, { maxAttempts: 3 });
      await expect(handler.handle('counter-1', { type: 'Increment', by: 1 }, context)).rejects.toBeInstanceOf(
        TooMuchContentionError,
      );
    });
  });
});
