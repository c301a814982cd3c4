import { type SystemEntry, SystemEntryKind } from '@tandem/contracts/tandem/fanout/v1/inbox';
import { deciderSpecification } from '@tandem/testing';
import { describe, expect, it } from 'vitest';
import type { PendingEntry } from './inbox-head';
import {
  type AcceptSystemEntry,
  type AckEntries,
  type ExpireEntries,
  expiryStreamId,
  inboxDecider,
  systemEntryStreamId,
} from './inbox.decider';
import type { FanoutDomainEvent } from './message.decider';

const spec = deciderSpecification(inboxDecider);

const alice = 'account-alice';
const bob = 'account-bob';
const carol = 'account-carol';
const now = new Date('2026-11-25T12:00:00.000Z');

/** Bob's phone, the device whose inbox changes. */
const bobsPhone = { accountId: bob, deviceId: 1 };

/** An entry Bob's phone holds: a message from `senderAccountId`, or ('') a receipt, system entry or notice. */
const held = (sequence: number, serverMessageId: string, senderAccountId: string): PendingEntry => ({
  sequence,
  serverMessageId,
  appendedAt: now.getTime() - 60_000,
  senderAccountId,
  droppedFrom: 0,
  droppedTo: 0,
  droppedCount: 0,
});

const ack = (acked: readonly PendingEntry[], overrides: Partial<AckEntries> = {}): AckEntries => ({
  type: 'AckEntries',
  device: bobsPhone,
  acked,
  receiptIds: ['receipt-1', 'receipt-2', 'receipt-3'],
  now,
  ...overrides,
});

const acked = (serverMessageIds: string[]): FanoutDomainEvent => ({
  $case: 'inboxAcked',
  value: { accountId: bob, deviceId: 1, serverMessageIds, ackedAt: now, throughSequence: 0 },
});

const receiptIssued = (
  senderAccountId: string,
  receiptId: string,
  serverMessageIds: string[],
): FanoutDomainEvent => ({
  $case: 'receiptIssued',
  value: {
    accountId: senderAccountId,
    serverMessageId: receiptId,
    receipt: { recipientAccountId: bob, recipientDeviceId: 1, serverMessageIds, deliveredAt: now },
    receipts: [],
    deviceIds: [],
  },
});

const profileUpdated: SystemEntry = {
  kind: SystemEntryKind.SYSTEM_ENTRY_KIND_PROFILE_UPDATED,
  sourceEventId: 'event-1',
  payloadType: 'tandem.accounts.v1.AccountEvent',
  payload: Buffer.from('profile'),
};

const acceptSystemEntry = (overrides: Partial<AcceptSystemEntry> = {}): AcceptSystemEntry => ({
  type: 'AcceptSystemEntry',
  accountId: bob,
  entry: profileUpdated,
  closesDeviceId: 0,
  deviceIds: [1, 2],
  ...overrides,
});

const systemEntryAccepted = (entry: SystemEntry): FanoutDomainEvent => ({
  $case: 'systemEntryAccepted',
  value: { accountId: bob, serverMessageId: entry.sourceEventId, entry, deviceIds: [1, 2] },
});

const expire = (expired: readonly PendingEntry[]): ExpireEntries => ({
  type: 'ExpireEntries',
  device: bobsPhone,
  expired,
  now,
});

describe('the inbox decider', () => {
  describe('when a device acks entries', () => {
    it('records InboxAcked with the acked ids and one ReceiptIssued per other account that sent messages', () => {
      spec
        .given([])
        .when(ack([held(1, 'm1', alice), held(2, 'm2', carol), held(3, 'm3', alice)]))
        .then([
          acked(['m1', 'm2', 'm3']),
          receiptIssued(alice, 'receipt-1', ['m1', 'm3']),
          receiptIssued(carol, 'receipt-2', ['m2']),
        ]);
    });

    it('gives the receipts the receipt ids in order and leaves the spare ones unused', () => {
      spec
        .given([])
        .when(ack([held(1, 'm1', carol), held(2, 'm2', alice)], { receiptIds: ['r-a', 'r-b', 'r-c'] }))
        .then([
          acked(['m1', 'm2']),
          receiptIssued(carol, 'r-a', ['m1']),
          receiptIssued(alice, 'r-b', ['m2']),
        ]);
    });

    it("issues no receipt for its own account's messages: sync copies and notes to self", () => {
      spec
        .given([])
        .when(ack([held(1, 'm1', bob), held(2, 'm2', alice)]))
        .then([acked(['m1', 'm2']), receiptIssued(alice, 'receipt-1', ['m2'])]);
    });

    it('issues no receipt for receipts, system entries or notices', () => {
      spec
        .given([])
        .when(ack([held(1, 'r1', ''), held(2, 's1', ''), { ...held(3, 'n1', ''), droppedCount: 2 }]))
        .then([acked(['r1', 's1', 'n1'])]);
    });

    it('needs no receipt ids when it issues no receipts', () => {
      spec
        .given([])
        .when(ack([held(1, 'm1', bob)], { receiptIds: [] }))
        .then([acked(['m1'])]);
    });

    it('refuses an ack with fewer receipt ids than receipts', () => {
      spec
        .given([])
        .when(ack([held(1, 'm1', alice), held(2, 'm2', carol)], { receiptIds: ['receipt-1'] }))
        .thenThrows('invalid-argument', /needs 2 receipt ids/);
    });

    it('records nothing for an ack of nothing the inbox holds', () => {
      spec.given([]).when(ack([])).thenNothingHappens();
    });

    it('records nothing once the ack is recorded', () => {
      spec
        .given([acked(['m1']), receiptIssued(alice, 'receipt-1', ['m1'])])
        .when(ack([held(1, 'm1', alice)]))
        .thenNothingHappens();
    });
  });

  describe('when a system entry is accepted', () => {
    it('records SystemEntryAccepted under the id of the source event', () => {
      spec
        .given([])
        .when(acceptSystemEntry())
        .then([systemEntryAccepted(profileUpdated)]);
    });

    it('closes the inbox of the device the source event removed, before accepting the entry', () => {
      const deviceUnlinked: SystemEntry = {
        kind: SystemEntryKind.SYSTEM_ENTRY_KIND_DEVICE_LIST_CHANGED,
        sourceEventId: 'event-2',
        payloadType: 'tandem.linking.v1.LinkingEvent',
        payload: Buffer.from('device 3 unlinked'),
      };
      spec
        .given([])
        .when(acceptSystemEntry({ entry: deviceUnlinked, closesDeviceId: 3 }))
        .then([
          { $case: 'inboxClosed', value: { accountId: bob, deviceId: 3 } },
          systemEntryAccepted(deviceUnlinked),
        ]);
    });

    it('records nothing when the source event is delivered again', () => {
      spec
        .given([systemEntryAccepted(profileUpdated)])
        .when(acceptSystemEntry())
        .thenNothingHappens();
      spec
        .given([{ $case: 'inboxClosed', value: { accountId: bob, deviceId: 3 } }])
        .when(acceptSystemEntry({ closesDeviceId: 3 }))
        .thenNothingHappens();
    });

    it('is one stream per source event', () => {
      expect(systemEntryStreamId('event-1')).toBe('system-entry:event-1');
      expect(systemEntryStreamId('event-2')).not.toBe(systemEntryStreamId('event-1'));
    });
  });

  describe('when entries of an inbox expire', () => {
    it('records InboxExpired with the ids of the expired entries', () => {
      spec
        .given([])
        .when(expire([held(1, 'm1', alice), held(2, 'r1', '')]))
        .then([
          {
            $case: 'inboxExpired',
            value: { accountId: bob, deviceId: 1, serverMessageIds: ['m1', 'r1'], expiredAt: now },
          },
        ]);
    });

    it('records nothing when no entries expired', () => {
      spec.given([]).when(expire([])).thenNothingHappens();
    });

    it('records nothing once the expiry is recorded', () => {
      spec
        .given([
          {
            $case: 'inboxExpired',
            value: { accountId: bob, deviceId: 1, serverMessageIds: ['m1'], expiredAt: now },
          },
        ])
        .when(expire([held(1, 'm1', alice)]))
        .thenNothingHappens();
    });

    it('is one stream per device and last sequence expired', () => {
      expect(expiryStreamId(bobsPhone, 42)).toBe('inbox-expiry:account-bob:1:42');
      expect(expiryStreamId({ accountId: bob, deviceId: 2 }, 42)).not.toBe(expiryStreamId(bobsPhone, 42));
      expect(expiryStreamId(bobsPhone, 43)).not.toBe(expiryStreamId(bobsPhone, 42));
    });
  });
});
