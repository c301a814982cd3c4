import { EventEnvelope } from '@tandem/contracts/tandem/eventing/v1/envelope';
import { InboxSignal } from '@tandem/contracts/tandem/fanout/v1/signals';
import type { PayloadJson } from '@tandem/event-sourcing';
import { SIGNALS_TOPIC } from '@tandem/fanout-service';
import type { IncomingRecord } from '@tandem/messaging';
import { PAYLOADS } from './services';

/**
 * How the payloads of the envelopes on Tandem's topics print, by the envelope's `payloadType`: as
 * each service declares them (`payloads`, from its codecs). The generated toJSON gives field names
 * as in the .proto's JSON mapping, enums by name, timestamps as ISO strings and bytes as base64, so
 * ciphertext is never decoded: it stays base64.
 */
export const PAYLOAD_MESSAGES: ReadonlyMap<string, PayloadJson> = PAYLOADS;

/** Records that carry no envelope: fan-out's signals between its instances. */
const BARE_MESSAGES = [
  {
    topicSuffix: SIGNALS_TOPIC,
    type: 'tandem.fanout.v1.InboxSignal',
    toJson: (value: Uint8Array) => InboxSignal.toJSON(InboxSignal.decode(value)),
  },
] as const;

/** `entriesStored` -> `EntriesStored`, as event types are named. */
const typeName = (oneofCase: string): string => oneofCase.charAt(0).toUpperCase() + oneofCase.slice(1);

/** One record as a JSON line prints it: where it is, the envelope's metadata and the decoded payload. */
export interface EventJson {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  /** The log's timestamp of the record, ISO 8601. */
  readonly timestamp: string;
  readonly key: string;
  readonly eventId: string;
  readonly type: string;
  readonly aggregateId: string;
  readonly aggregateVersion: number;
  readonly occurredAt: string;
  readonly correlationId: string;
  readonly causationId: string;
  readonly traceparent: string;
  readonly tracestate: string;
  readonly partitionKey: string;
  readonly payloadType: string;
  /** The event (the case of the service's oneof) as JSON; absent when it could not be decoded. */
  readonly payload?: unknown;
  /** Why the record or its payload could not be decoded; the record's value is then in `value` (base64). */
  readonly error?: string;
  readonly value?: string;
}

const isoOf = (milliseconds: number): string =>
  Number.isFinite(milliseconds) ? new Date(milliseconds).toISOString() : '';

/** `{ messageAccepted: {...} }` -> `{...}`: the type is already in the line. */
function caseValue(json: unknown): unknown {
  if (json && typeof json === 'object') {
    const values = Object.values(json);
    if (values.length === 1) return values[0];
  }
  return json;
}

/**
 * A system entry carries another service's event as bytes: it is plain protobuf (state changes of
 * the account, never message content), so it is shown decoded beside its base64.
 */
function withSystemEntryDecoded(payload: unknown): unknown {
  const entry = (payload as { entry?: { payloadType?: string; payload?: string } } | undefined)?.entry;
  const message = entry?.payloadType ? PAYLOAD_MESSAGES.get(entry.payloadType) : undefined;
  if (!entry || !message || entry.payload === undefined) return payload;
  try {
    const decoded = caseValue(message.toJson(Buffer.from(entry.payload, 'base64')));
    return { ...(payload as object), entry: { ...entry, payloadDecoded: decoded } };
  } catch {
    return payload;
  }
}

function undecodable(record: IncomingRecord, error: string, partial: Partial<EventJson> = {}): EventJson {
  return {
    topic: record.topic,
    partition: record.partition,
    offset: record.offset,
    timestamp: isoOf(record.timestamp),
    key: record.key,
    eventId: '',
    type: '',
    aggregateId: '',
    aggregateVersion: 0,
    occurredAt: '',
    correlationId: '',
    causationId: '',
    traceparent: '',
    tracestate: '',
    partitionKey: '',
    payloadType: '',
    ...partial,
    error,
    value: Buffer.from(record.value).toString('base64'),
  };
}

/** Decodes a record: its envelope, then the payload with the message its `payloadType` names. */
export function decodeRecord(record: IncomingRecord): EventJson {
  const bare = BARE_MESSAGES.find((candidate) => record.topic.endsWith(candidate.topicSuffix));
  if (bare) {
    try {
      const json = bare.toJson(record.value);
      return {
        ...undecodable(record, ''),
        type: typeName(Object.keys(json ?? {}).find((field) => field !== 'originInstanceId') ?? ''),
        payloadType: bare.type,
        payload: json,
        error: undefined,
        value: undefined,
      };
    } catch (error) {
      return undecodable(record, `not a ${bare.type}: ${(error as Error).message}`);
    }
  }
  let envelope: EventEnvelope;
  try {
    envelope = EventEnvelope.decode(record.value);
  } catch (error) {
    return undecodable(record, `not an event envelope: ${(error as Error).message}`);
  }
  const metadata: Omit<EventJson, 'payload' | 'error' | 'value'> = {
    topic: record.topic,
    partition: record.partition,
    offset: record.offset,
    timestamp: isoOf(record.timestamp),
    key: record.key,
    eventId: envelope.eventId,
    type: envelope.type,
    aggregateId: envelope.aggregateId,
    aggregateVersion: envelope.aggregateVersion,
    occurredAt: envelope.occurredAt ? envelope.occurredAt.toISOString() : '',
    correlationId: envelope.correlationId,
    causationId: envelope.causationId,
    traceparent: envelope.traceContext?.traceparent ?? '',
    tracestate: envelope.traceContext?.tracestate ?? '',
    partitionKey: envelope.partitionKey,
    payloadType: envelope.payloadType,
  };
  const message = PAYLOAD_MESSAGES.get(envelope.payloadType);
  if (!message) {
    return undecodable(record, `unknown payload type "${envelope.payloadType}"`, metadata);
  }
  try {
    const payload = caseValue(message.toJson(envelope.payload));
    return {
      ...metadata,
      payload:
        envelope.payloadType === 'tandem.fanout.v1.FanoutEvent' ? withSystemEntryDecoded(payload) : payload,
    };
  } catch (error) {
    return undecodable(
      record,
      `payload is not a ${envelope.payloadType}: ${(error as Error).message}`,
      metadata,
    );
  }
}

/** The event type from the record's header when it has one, without decoding. */
export const headerType = (record: IncomingRecord): string | undefined => record.headers['tandem-event-type'];
