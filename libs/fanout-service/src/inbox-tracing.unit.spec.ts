import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { context, type Span, SpanKind, trace } from '@opentelemetry/api';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import { SystemEntryKind } from '@tandem/contracts/tandem/fanout/v1/inbox';
import type { StreamInboxResponse } from '@tandem/contracts/tandem/fanout/v1/fanout_service';
import { EmbeddedDocumentStore } from '@tandem/documents';
import { type StoredEvent, toRecord } from '@tandem/event-sourcing';
import { tandemTracer, traceContextOf } from '@tandem/observability';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fanoutEventCodec } from './fanout.codecs';
import { InboxStreams } from './inbox-streams';
import { InboxTiers } from './inbox-tiers';
import { type AppendedEntries, InboxesProjection, nobodyToNotify } from './inboxes.projection';

const exporter = new InMemorySpanExporter();
const sdk = new NodeSDK({
  spanProcessors: [new SimpleSpanProcessor({ exporter })],
  instrumentations: [],
  metricReaders: [],
  logRecordProcessors: [],
  autoDetectResources: false,
});

const ACCOUNT = 'account-1';
const TOPIC = 'tandem.fanout.events';

/** Items a stream received, and a wait for one of them. */
function sink() {
  const items: StreamInboxResponse[] = [];
  return {
    items,
    next: (item: StreamInboxResponse) => items.push(item),
    // Only endAll ends the streams here, with UNAVAILABLE.
    error: () => undefined,
    async until(found: (item: StreamInboxResponse) => boolean): Promise<void> {
      for (let waited = 0; !items.some(found); waited += 10) {
        if (waited > 5_000) throw new Error('the stream did not receive the item');
        await sleep(10);
      }
    },
  };
}

describe('tracing a system entry from its event to the devices', () => {
  let dataDir: string;
  let documents: EmbeddedDocumentStore;
  let projection: InboxesProjection;
  let streams: InboxStreams;
  /** The span the event was appended in: a consumer's, for another service's event. */
  let request: Span;
  const spans = (name: string): ReadableSpan[] =>
    exporter.getFinishedSpans().filter((span) => span.name === name);

  beforeAll(async () => {
    sdk.start();
    request = tandemTracer().startSpan('process ProfileUpdated');
    request.end();
    dataDir = mkdtempSync(join(tmpdir(), 'tandem-inbox-tracing-'));
    documents = new EmbeddedDocumentStore({ dataDir, name: 'fanout' });
    const tiers = new InboxTiers(documents.collection('inbox_heads'), documents.collection('inbox_entries'));
    streams = new InboxStreams(tiers);
    projection = new InboxesProjection(tiers, {
      ...nobodyToNotify,
      entriesAppended: (appended: readonly AppendedEntries[]) => streams.appended(appended),
    });
  });

  afterAll(async () => {
    await streams.endAll();
    await documents.close();
    rmSync(dataDir, { recursive: true, force: true });
    await sdk.shutdown();
  });

  it("appends in a span per device under the event's span, then pushes under the append's", async () => {
    const online = sink();
    streams.open(ACCOUNT, 1, 0, online);
    await online.until(({ item }) => item?.$case === 'caughtUp');
    const traced = traceContextOf(trace.setSpan(context.active(), request))!;
    const event: StoredEvent = {
      eventId: 'e-1',
      type: 'SystemEntryAccepted',
      partitionKey: ACCOUNT,
      occurredAt: new Date(),
      correlationId: 'c-1',
      causationId: 'source-1',
      traceparent: traced.traceparent!,
      tracestate: '',
      payload: fanoutEventCodec.encode({
        $case: 'systemEntryAccepted',
        value: {
          deviceIds: [1, 2],
          primaryDeviceId: 1,
          accountId: ACCOUNT,
          serverMessageId: 'm-1',
          entry: {
            kind: SystemEntryKind.SYSTEM_ENTRY_KIND_PROFILE_UPDATED,
            sourceEventId: 'source-1',
            payloadType: 'tandem.accounts.v1.AccountEvent',
            payload: Buffer.from('profile'),
          },
        },
      }),
      streamId: 'system-entry:source-1',
      version: 1,
    };
    const record = toRecord(event, fanoutEventCodec.payloadType);

    await projection.applyBatch({
      topic: TOPIC,
      partition: 0,
      records: [{ ...record, topic: TOPIC, partition: 0, offset: '0', headers: {}, timestamp: Date.now() }],
    });
    await online.until(({ item }) => item?.$case === 'entry' && item.value.serverMessageId === 'm-1');

    const appends = spans('fanout.inbox.append');
    expect(appends.map((span) => span.attributes['tandem.device.id']).sort()).toEqual([1, 2]);
    for (const append of appends) {
      expect(append.spanContext().traceId).toBe(request.spanContext().traceId);
      expect(append.parentSpanContext?.spanId).toBe(request.spanContext().spanId);
      expect(append.attributes).toMatchObject({ 'tandem.account.id': ACCOUNT, 'tandem.inbox.sequence': 1 });
    }
    const [push] = spans('fanout.stream.push');
    const appendToDevice1 = appends.find((span) => span.attributes['tandem.device.id'] === 1)!;
    expect(push?.kind).toBe(SpanKind.PRODUCER);
    expect(push?.parentSpanContext?.spanId).toBe(appendToDevice1.spanContext().spanId);
    expect(push?.attributes).toMatchObject({ 'tandem.device.id': 1, 'tandem.push.backlog': false });
  });

  it('continues the trace when a device that was offline gets the entry from its backlog', async () => {
    const later = sink();
    streams.open(ACCOUNT, 2, 0, later);
    await later.until(({ item }) => item?.$case === 'caughtUp');

    const appendToDevice2 = spans('fanout.inbox.append').find(
      (span) => span.attributes['tandem.device.id'] === 2,
    )!;
    const push = spans('fanout.stream.push').find((span) => span.attributes['tandem.device.id'] === 2);
    expect(push?.spanContext().traceId).toBe(request.spanContext().traceId);
    expect(push?.parentSpanContext?.spanId).toBe(appendToDevice2.spanContext().spanId);
    expect(push?.attributes['tandem.push.backlog']).toBe(true);
  });
});
