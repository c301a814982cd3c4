import { EventEnvelope } from '@tandem/contracts/tandem/eventing/v1/envelope';
import type { IncomingRecord, OutgoingRecord } from '@tandem/messaging';
import type { StoredEvent } from './event-store.port';

/** Kafka headers every Tandem record carries, so tools can filter without decoding the value. */
export const eventHeaders = {
  eventId: 'tandem-event-id',
  eventType: 'tandem-event-type',
  traceparent: 'traceparent',
  tracestate: 'tracestate',
  /** On fanout's MessageAccepted: the sending account (the key names the recipient). */
  senderAccount: 'tandem-sender-account',
} as const;

/** Everything the envelope says about an event, plus where the log put it. */
export interface EventMetadata {
  readonly eventId: string;
  readonly type: string;
  readonly aggregateId: string;
  readonly aggregateVersion: number;
  readonly occurredAt: Date;
  readonly correlationId: string;
  readonly causationId: string;
  readonly traceparent: string;
  readonly tracestate: string;
  readonly partitionKey: string;
  readonly payloadType: string;
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
}

export interface ReceivedEvent<E> {
  readonly event: E;
  readonly metadata: EventMetadata;
}

/** The log record for a stored event: key = account id, value = the protobuf envelope. */
export function toRecord(event: StoredEvent, payloadType: string): OutgoingRecord {
  const envelope: EventEnvelope = {
    eventId: event.eventId,
    type: event.type,
    aggregateId: event.streamId,
    aggregateVersion: event.version,
    occurredAt: event.occurredAt,
    correlationId: event.correlationId,
    causationId: event.causationId,
    traceContext: { traceparent: event.traceparent, tracestate: event.tracestate },
    payloadType,
    payload: Buffer.from(event.payload),
    partitionKey: event.partitionKey,
  };
  const headers: Record<string, string> = {
    [eventHeaders.eventId]: event.eventId,
    [eventHeaders.eventType]: event.type,
  };
  if (event.traceparent) headers[eventHeaders.traceparent] = event.traceparent;
  if (event.tracestate) headers[eventHeaders.tracestate] = event.tracestate;
  return {
    key: event.partitionKey,
    value: EventEnvelope.encode(envelope).finish(),
    headers,
    timestamp: event.occurredAt.getTime(),
  };
}

/** Decodes a log record's envelope; the payload stays bytes for the service's codec. */
export function fromRecord(record: IncomingRecord): { metadata: EventMetadata; payload: Uint8Array } {
  const envelope = EventEnvelope.decode(record.value);
  return {
    payload: envelope.payload,
    metadata: {
      eventId: envelope.eventId,
      type: envelope.type,
      aggregateId: envelope.aggregateId,
      aggregateVersion: envelope.aggregateVersion,
      occurredAt: envelope.occurredAt ?? new Date(record.timestamp),
      correlationId: envelope.correlationId,
      causationId: envelope.causationId,
      traceparent: envelope.traceContext?.traceparent ?? '',
      tracestate: envelope.traceContext?.tracestate ?? '',
      partitionKey: envelope.partitionKey,
      payloadType: envelope.payloadType,
      topic: record.topic,
      partition: record.partition,
      offset: record.offset,
    },
  };
}
