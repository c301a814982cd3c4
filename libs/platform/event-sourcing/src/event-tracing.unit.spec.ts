import { context, type SpanContext, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import type { EventLog, RecordBatch, SubscribeOptions } from '@tandem/messaging';
import { tandemTracer, traceContextOf } from '@tandem/observability';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { CommandContext } from './command-handler';
import type { EventCodec } from './event-codec';
import { consumeEvents } from './event-consumer';
import { causedBy } from './event-tracing';
import { toRecord } from './envelope';
import type { StoredEvent } from './event-store.port';

type NoteEvent = { accountId: string; text: string };

const codec: EventCodec<NoteEvent> = {
  payloadType: 'test.Note',
  encode: (event) => Buffer.from(JSON.stringify(event)),
  decode: (payload) => JSON.parse(Buffer.from(payload).toString()) as NoteEvent,
  typeOf: () => 'NoteTaken',
  partitionKeyOf: (event) => event.accountId,
};

const exporter = new InMemorySpanExporter();
const sdk = new NodeSDK({
  spanProcessors: [new SimpleSpanProcessor({ exporter })],
  instrumentations: [],
  metricReaders: [],
  logRecordProcessors: [],
  autoDetectResources: false,
});

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

/** A stored event appended inside `parent` (or outside any span), as the log delivers it. */
function delivered(parent?: SpanContext): RecordBatch {
  const traced = parent ? traceContextOf(trace.setSpanContext(context.active(), parent)) : undefined;
  const event: StoredEvent = {
    eventId: 'e-1',
    type: 'NoteTaken',
    partitionKey: 'account-1',
    occurredAt: new Date(),
    correlationId: 'c-1',
    causationId: 'r-1',
    traceparent: traced?.traceparent ?? '',
    tracestate: traced?.tracestate ?? '',
    payload: codec.encode({ accountId: 'account-1', text: 'secret ciphertext' }),
    streamId: 'account-1',
    version: 1,
  };
  const record = toRecord(event, codec.payloadType);
  return {
    topic: 'tandem.notes.events',
    partition: 0,
    records: [
      {
        ...record,
        topic: 'tandem.notes.events',
        partition: 0,
        offset: '7',
        headers: {},
        timestamp: Date.now(),
      },
    ],
  };
}

describe('consuming an event with its trace context', () => {
  beforeAll(() => sdk.start());
  afterAll(() => sdk.shutdown());
  beforeEach(() => exporter.reset());

  it('handles it in a consumer span whose parent is the span the event was appended in', async () => {
    const request = tandemTracer().startSpan('grpc.AccountsService/Register');
    request.end();
    const log = fakeLog();
    let commandContext: CommandContext | undefined;
    await consumeEvents(log, {
      groupId: 'linking.accounts-events',
      topic: 'tandem.notes.events',
      codec,
      handle: async ({ metadata }) => {
        commandContext = causedBy(metadata);
      },
    });

    await log.deliver(delivered(request.spanContext()));

    const consumer = exporter.getFinishedSpans().find((span) => span.name === 'process NoteTaken')!;
    expect(consumer.kind).toBe(SpanKind.CONSUMER);
    expect(consumer.spanContext().traceId).toBe(request.spanContext().traceId);
    expect(consumer.parentSpanContext?.spanId).toBe(request.spanContext().spanId);
    expect(consumer.attributes).toMatchObject({
      'messaging.consumer.group.name': 'linking.accounts-events',
      'messaging.message.id': 'e-1',
      'messaging.kafka.offset': 7,
      'tandem.account.id': 'account-1',
    });
    expect(JSON.stringify(consumer.attributes)).not.toContain('secret');
    // What the handler appends is a child of the consumer span, in the same trace.
    expect(commandContext).toMatchObject({ correlationId: 'c-1', causationId: 'e-1' });
    expect(commandContext?.traceparent).toBe(
      `00-${request.spanContext().traceId}-${consumer.spanContext().spanId}-01`,
    );
  });

  it('starts a trace of its own for an event appended outside any span', async () => {
    const log = fakeLog();
    await consumeEvents(log, { groupId: 'g', topic: 't', codec, handle: async () => undefined });

    await log.deliver(delivered());

    const [consumer] = exporter.getFinishedSpans();
    expect(consumer?.name).toBe('process NoteTaken');
    expect(consumer?.parentSpanContext).toBeUndefined();
  });

  it('records a failed handler on the span and lets the batch fail', async () => {
    const log = fakeLog();
    await consumeEvents(log, {
      groupId: 'g',
      topic: 't',
      codec,
      handle: async () => {
        throw new Error('store unavailable');
      },
    });

    await expect(log.deliver(delivered())).rejects.toThrow('store unavailable');

    const [consumer] = exporter.getFinishedSpans();
    expect(consumer?.status.code).toBe(SpanStatusCode.ERROR);
    expect(consumer?.events.map((event) => event.name)).toEqual(['exception']);
  });
});
