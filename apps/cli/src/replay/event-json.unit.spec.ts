import { accountEventCodec } from '@tandem/accounts-app';
import { deviceListEventCodec } from '@tandem/auth';
import { backupEventCodec } from '@tandem/backups-app';
import { AccountEvent } from '@tandem/contracts/tandem/accounts/v1/events';
import { InboxSignal } from '@tandem/contracts/tandem/fanout/v1/signals';
import { SystemEntryKind } from '@tandem/contracts/tandem/fanout/v1/inbox';
import { fanoutEventCodec } from '@tandem/fanout-app';
import { mediaEventCodec } from '@tandem/media-app';
import type { IncomingRecord, OutgoingRecord } from '@tandem/messaging';
import { describe, expect, it } from 'vitest';
import { type EventFilter, matches, mayMatch } from './event-filter';
import { decodeRecord, PAYLOAD_MESSAGES } from './event-json';
import { eventRecord, messageAccepted, profileUpdated } from './replay-fixtures';

const at = new Date('2026-11-28T10:00:00Z');
const ciphertext = Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x00, 0x01]);

const incoming = (record: OutgoingRecord, topic = 'tandem.fanout.events', offset = '7'): IncomingRecord => ({
  topic,
  partition: 2,
  offset,
  key: record.key,
  value: record.value,
  headers: record.headers ?? {},
  timestamp: record.timestamp ?? at.getTime(),
});

const message = incoming(
  eventRecord(
    fanoutEventCodec,
    messageAccepted({
      serverMessageId: 'm-1',
      from: { accountId: 'alice', deviceId: 2 },
      to: 'bob',
      devices: [1, 3],
      ciphertext,
      at,
    }),
    { occurredAt: at, correlationId: 'request-1', eventId: 'e-1', streamId: 'message:alice:2:c-1' },
  ),
);

describe('a record as a JSON line', () => {
  it('carries the envelope, where the record is, and the payload with readable field names', () => {
    const event = decodeRecord(message);

    expect(event).toMatchObject({
      topic: 'tandem.fanout.events',
      partition: 2,
      offset: '7',
      timestamp: at.toISOString(),
      key: 'bob',
      eventId: 'e-1',
      type: 'MessageAccepted',
      aggregateId: 'message:alice:2:c-1',
      aggregateVersion: 1,
      occurredAt: at.toISOString(),
      correlationId: 'request-1',
      partitionKey: 'bob',
      payloadType: 'tandem.fanout.v1.FanoutEvent',
      payload: {
        accountId: 'bob',
        serverMessageId: 'm-1',
        senderAccountId: 'alice',
        senderDeviceId: 2,
        serverTimestamp: at.toISOString(),
        envelopes: [
          { accountId: 'bob', deviceId: 1, type: 'ENVELOPE_TYPE_CIPHERTEXT' },
          { accountId: 'bob', deviceId: 3, type: 'ENVELOPE_TYPE_CIPHERTEXT' },
        ],
      },
    });
    expect(event.error).toBeUndefined();
  });

  it('leaves ciphertext as base64, never decoded', () => {
    const payload = decodeRecord(message).payload as { envelopes: { content: string }[] };

    expect(payload.envelopes.map((envelope) => envelope.content)).toEqual([
      ciphertext.toString('base64'),
      ciphertext.toString('base64'),
    ]);
  });

  it("shows a system entry's event decoded beside its bytes", () => {
    const profile = AccountEvent.encode({ event: profileUpdated('bob', 'Bob') }).finish();
    const event = decodeRecord(
      incoming(
        eventRecord(
          fanoutEventCodec,
          {
            $case: 'systemEntryAccepted',
            value: {
              deviceIds: [],
              accountId: 'bob',
              serverMessageId: 's-1',
              entry: {
                kind: SystemEntryKind.SYSTEM_ENTRY_KIND_PROFILE_UPDATED,
                sourceEventId: 'e-9',
                payloadType: 'tandem.accounts.v1.AccountEvent',
                payload: Buffer.from(profile),
              },
            },
          },
          { occurredAt: at },
        ),
      ),
    );

    expect(event.payload).toMatchObject({
      entry: {
        payload: Buffer.from(profile).toString('base64'),
        payloadDecoded: { accountId: 'bob', displayName: 'Bob' },
      },
    });
  });

  it('says when the payload type is unknown, and keeps the bytes', () => {
    const record = eventRecord(accountEventCodec, profileUpdated('bob', 'Bob'), { occurredAt: at });
    const event = decodeRecord(incoming({ ...record, value: record.value }, 'tandem.accounts.events'));
    expect(event.payload).toMatchObject({ displayName: 'Bob' });

    const foreign = decodeRecord({
      ...incoming(record),
      value: new Uint8Array([0xff, 0xff, 0xff]),
    });
    expect(foreign.error).toMatch(/not an event envelope/);
    expect(foreign.value).toBe('////');
  });

  it('decodes the bare signals between fan-out instances', () => {
    const signal = InboxSignal.encode({
      originInstanceId: 'i-1',
      signal: { $case: 'entriesStored', value: { accountId: 'bob', deviceId: 1, lastSequence: 4 } },
    }).finish();
    const event = decodeRecord({ ...message, topic: 'x.tandem.fanout.signals', value: signal });

    expect(event).toMatchObject({
      type: 'EntriesStored',
      payloadType: 'tandem.fanout.v1.InboxSignal',
      payload: { originInstanceId: 'i-1', entriesStored: { accountId: 'bob', deviceId: 1, lastSequence: 4 } },
    });
  });

  it("knows the payload type of every service's codec", () => {
    for (const codec of [
      accountEventCodec,
      deviceListEventCodec,
      fanoutEventCodec,
      backupEventCodec,
      mediaEventCodec,
    ]) {
      expect(PAYLOAD_MESSAGES.has(codec.payloadType), codec.payloadType).toBe(true);
    }
  });
});

describe('filtering events', () => {
  const event = decodeRecord(message);
  const both = (filter: EventFilter) => mayMatch(message, filter) && matches(event, filter);

  it('keeps the types asked for, in any case, from the header alone', () => {
    expect(mayMatch(message, { types: ['messageaccepted'] })).toBe(true);
    expect(mayMatch(message, { types: ['InboxAcked', 'ReceiptIssued'] })).toBe(false);
    expect(both({ types: ['ReceiptIssued', 'MessageAccepted'] })).toBe(true);
  });

  it('keeps the events of an account: keyed by it or naming it as sender', () => {
    expect(both({ account: 'bob' })).toBe(true);
    expect(both({ account: 'alice' })).toBe(true);
    expect(both({ account: 'carol' })).toBe(false);
    expect(mayMatch(message, { account: 'carol' })).toBe(false);
  });

  it("keeps events naming a device, and with an account only that account's device", () => {
    expect(both({ device: 3 })).toBe(true);
    expect(both({ device: 4 })).toBe(false);
    expect(both({ account: 'bob', device: 3 })).toBe(true);
    expect(both({ account: 'alice', device: 2 })).toBe(true);
    expect(both({ account: 'alice', device: 3 })).toBe(false);
    expect(both({ account: 'bob', device: 2 })).toBe(false);
  });

  it('keeps the events of a correlation id', () => {
    expect(both({ correlation: 'request-1' })).toBe(true);
    expect(both({ correlation: 'request-2' })).toBe(false);
  });

  it('needs every criterion to hold', () => {
    expect(both({ account: 'bob', types: ['MessageAccepted'], correlation: 'request-1', device: 1 })).toBe(
      true,
    );
    expect(both({ account: 'bob', types: ['InboxAcked'] })).toBe(false);
  });
});
