import { randomUUID } from 'node:crypto';
import { FanoutEvent } from '@tandem/contracts/tandem/fanout/v1/events';
import { PresenceEvent, RestoreMarker, TypingEvent } from '@tandem/contracts/tandem/presence/v1/events';
import { type EventCodec, oneofEventCodec, type PayloadJson, toRecord } from '@tandem/event-sourcing';
import type { OutgoingRecord } from '@tandem/messaging';

// The accounts service's events: last-seen visibility, blocks and deleted accounts.
export { type AccountDomainEvent, accountEventCodec } from '@tandem/accounts-events';
export { deviceListEventCodec } from '@tandem/linking-events';

export type FanoutDomainEvent = NonNullable<FanoutEvent['event']>;
export type PresenceDomainEvent = NonNullable<PresenceEvent['event']>;
export type TypingDomainEvent = NonNullable<TypingEvent['event']>;

/** Fanout's events: inbox streams opening and closing, instances alive, and messages (contacts). */
export const fanoutEventCodec = oneofEventCodec<FanoutDomainEvent>(
  'tandem.fanout.v1.FanoutEvent',
  FanoutEvent,
);

/** Presence's own events on the compacted topic tandem.presence.events, keyed by account id. */
export const presenceEventCodec = oneofEventCodec<PresenceDomainEvent>(
  'tandem.presence.v1.PresenceEvent',
  PresenceEvent,
);

/** Typing on the short-lived topic tandem.presence.typing, keyed by the typing account's id. */
export const typingEventCodec = oneofEventCodec<TypingDomainEvent>(
  'tandem.presence.v1.TypingEvent',
  TypingEvent,
);

/** The payload type of a RestoreMarker record, which no event consumer takes for an event. */
export const RESTORE_MARKER_TYPE = 'tandem.presence.v1.RestoreMarker';

/** A RestoreMarker as `tandem events` prints it. */
export const restoreMarkerJson: PayloadJson = {
  payloadType: RESTORE_MARKER_TYPE,
  toJson: (payload) => RestoreMarker.toJSON(RestoreMarker.decode(payload)),
};

export interface RecordOrigin {
  /** The aggregate: the account. */
  readonly aggregateId: string;
  /** The record's position among the account's records on the topic, from 1. */
  readonly version: number;
  readonly occurredAt: Date;
  readonly correlationId?: string;
  readonly causationId?: string;
}

/**
 * Presence writes its records straight to the log, without an event store: its state lives in the
 * compacted topic itself. They carry the same envelope as every other Tandem event.
 */
export function envelopedRecord(
  payloadType: string,
  type: string,
  partitionKey: string,
  payload: Uint8Array,
  origin: RecordOrigin,
): OutgoingRecord {
  return toRecord(
    {
      eventId: randomUUID(),
      type,
      partitionKey,
      occurredAt: origin.occurredAt,
      correlationId: origin.correlationId ?? randomUUID(),
      causationId: origin.causationId ?? '',
      traceparent: '',
      tracestate: '',
      payload,
      streamId: origin.aggregateId,
      version: origin.version,
    },
    payloadType,
  );
}

/** An event of one of presence's codecs as a log record. */
export function eventRecord<E>(codec: EventCodec<E>, event: E, origin: RecordOrigin): OutgoingRecord {
  return envelopedRecord(
    codec.payloadType,
    codec.typeOf(event),
    codec.partitionKeyOf(event),
    codec.encode(event),
    origin,
  );
}
