import type { EventLog, IncomingRecord, RecordBatch, SubscribeOptions } from '@tandem/messaging';
import { describe, expect, it } from 'vitest';
import type { EventCodec } from './event-codec';
import { consumeEvents } from './event-consumer';
import { toRecord } from './envelope';

type NoteEvent = { accountId: string; text: string };

const codec: EventCodec<NoteEvent> = {
  payloadType: 'test.Note',
  encode: (event) => Buffer.from(JSON.stringify(event)),
  decode: (payload) => JSON.parse(Buffer.from(payload).toString()) as NoteEvent,
  typeOf: () => 'NoteTaken',
  partitionKeyOf: (event) => event.accountId,
};

/** An event log with one subscriber, fed by hand. */
function fakeLog(): EventLog & { deliver(batch: RecordBatch): Promise<void> } {
  let subscriber: SubscribeOptions | undefined;
  return {
    ensureTopics: async () => undefined,
    publish: async () => undefined,
    subscribe: async (options) => {
      subscriber = options;
      return { stop: async () => undefined, commit: async () => undefined };
    },
    close: async () => undefined,
    deliver: (batch) => subscriber!.onBatch(batch, new AbortController().signal),
  };
}

function note(accountId: string, text: string, offset: number): IncomingRecord {
  const record = toRecord(
    {
      eventId: `e-${offset}`,
      type: 'NoteTaken',
      partitionKey: accountId,
      occurredAt: new Date(),
      correlationId: 'c',
      causationId: 'c',
      traceparent: '',
      tracestate: '',
      payload: codec.encode({ accountId, text }),
      streamId: accountId,
      version: offset,
    },
    codec.payloadType,
  );
  return { ...record, topic: 'notes', partition: 0, offset: String(offset), headers: {}, timestamp: 0 };
}

const batch = (records: IncomingRecord[]): RecordBatch => ({ topic: 'notes', partition: 0, records });

describe('when a batch holds the events of several accounts', () => {
  it("applies each account's events in log order, and different accounts' events at once", async () => {
    const log = fakeLog();
    const applied: string[] = [];
    let inFlight = 0;
    let mostInFlight = 0;
    await consumeEvents(log, {
      groupId: 'g',
      topic: 'notes',
      codec,
      handle: async ({ event }) => {
        inFlight += 1;
        mostInFlight = Math.max(mostInFlight, inFlight);
        await new Promise((resolve) => setTimeout(resolve, event.accountId === 'a' ? 5 : 1));
        applied.push(`${event.accountId}${event.text}`);
        inFlight -= 1;
      },
    });

    await log.deliver(batch([note('a', '1', 1), note('b', '1', 2), note('a', '2', 3), note('b', '2', 4)]));

    expect(applied.filter((entry) => entry.startsWith('a'))).toEqual(['a1', 'a2']);
    expect(applied.filter((entry) => entry.startsWith('b'))).toEqual(['b1', 'b2']);
    expect(mostInFlight).toBe(2);
  });

  it("fails the batch when one account's event fails, after the others are applied", async () => {
    const log = fakeLog();
    const applied: string[] = [];
    await consumeEvents(log, {
      groupId: 'g',
      topic: 'notes',
      codec,
      handle: async ({ event }) => {
        if (event.accountId === 'a' && event.text === '1') throw new Error('store unavailable');
        await new Promise((resolve) => setTimeout(resolve, 1));
        applied.push(`${event.accountId}${event.text}`);
      },
    });

    await expect(
      log.deliver(batch([note('a', '1', 1), note('b', '1', 2), note('a', '2', 3), note('b', '2', 4)])),
    ).rejects.toThrow('store unavailable');

    expect(applied).toEqual(['b1', 'b2']);
  });
});
