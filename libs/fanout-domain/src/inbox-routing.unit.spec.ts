import { EnvelopeType, SystemEntryKind } from '@tandem/contracts/tandem/fanout/v1/inbox';
import { describe, expect, it } from 'vitest';
import { MAX_INBOX_DEPTH } from './inbox';
import { type InboxRoute, inboxRoutes } from './inbox-routing';
import type { FanoutDomainEvent } from './message.decider';

const alice = 'account-alice';
const bob = 'account-bob';
const now = new Date('2026-12-07T12:00:00.000Z');

const envelope = (accountId: string, deviceId: number) => ({
  accountId,
  deviceId,
  registrationId: 100 + deviceId,
  type: EnvelopeType.ENVELOPE_TYPE_CIPHERTEXT,
  content: Buffer.from(`for ${accountId}/${deviceId}`),
});

const messageAccepted = (primaryDeviceId?: number): FanoutDomainEvent => ({
  $case: 'messageAccepted',
  value: {
    accountId: bob,
    serverMessageId: 'm-1',
    serverTimestamp: now,
    senderAccountId: alice,
    senderDeviceId: 1,
    clientMessageId: 'c-1',
    recipientListVersion: 3,
    envelopes: [envelope(bob, 1), envelope(bob, 2), envelope(bob, 4)],
    primaryDeviceId,
  },
});

const sentMessageSynced = (primaryDeviceId?: number): FanoutDomainEvent => ({
  $case: 'sentMessageSynced',
  value: {
    accountId: alice,
    serverMessageId: 'm-1',
    serverTimestamp: now,
    senderDeviceId: 2,
    recipientAccountId: bob,
    envelopes: [envelope(alice, 1), envelope(alice, 3)],
    primaryDeviceId,
  },
});

const systemEntryAccepted = (deviceIds: number[], primaryDeviceId?: number): FanoutDomainEvent => ({
  $case: 'systemEntryAccepted',
  value: {
    accountId: bob,
    serverMessageId: 'source-1',
    entry: {
      kind: SystemEntryKind.SYSTEM_ENTRY_KIND_PROFILE_UPDATED,
      sourceEventId: 'source-1',
      payloadType: 'tandem.accounts.v1.AccountEvent',
      payload: Buffer.from('profile'),
    },
    deviceIds,
    primaryDeviceId,
  },
});

const receiptIssued = (deviceIds: number[], primaryDeviceId?: number): FanoutDomainEvent => ({
  $case: 'receiptIssued',
  value: {
    accountId: alice,
    serverMessageId: 'receipt-1',
    receipt: undefined,
    receipts: [
      { recipientAccountId: bob, recipientDeviceId: 1, serverMessageIds: ['m-1'], deliveredAt: now },
    ],
    deviceIds,
    primaryDeviceId,
  },
});

/** Each append as [device, max depth]. */
const appendsOf = (routes: readonly InboxRoute[]) =>
  routes.map((route) => (route.kind === 'append' ? [route.deviceId, route.maxDepth] : route.kind));

const { primary, companion } = MAX_INBOX_DEPTH;

describe('routing fan-out events to device inboxes', () => {
  describe('when a message is accepted', () => {
    it("appends one entry to each recipient device with an envelope, holding that device's ciphertext", () => {
      const routes = inboxRoutes(messageAccepted(1), []);
      expect(appendsOf(routes)).toEqual([
        [1, primary],
        [2, companion],
        [4, companion],
      ]);
      const second = routes[1]!;
      expect(second.kind === 'append' && second.entry.content).toMatchObject({
        $case: 'message',
        value: { senderAccountId: alice, recipientAccountId: bob, content: Buffer.from(`for ${bob}/2`) },
      });
    });

    it('holds only the device the event names the primary to the primary depth', () => {
      expect(appendsOf(inboxRoutes(messageAccepted(4), []))).toEqual([
        [1, companion],
        [2, companion],
        [4, primary],
      ]);
    });

    it("appends the sync copies to the sender's other devices, the primary among them", () => {
      const routes = inboxRoutes(sentMessageSynced(1), []);
      expect(appendsOf(routes)).toEqual([
        [1, primary],
        [3, companion],
      ]);
      const first = routes[0]!;
      expect(first.kind === 'append' && first.entry.content).toMatchObject({
        $case: 'message',
        value: { senderAccountId: alice, senderDeviceId: 2, recipientAccountId: bob },
      });
    });
  });

  describe('when a receipt or a system entry is accepted', () => {
    it('appends it to the devices the event names, not to other inboxes the account holds', () => {
      expect(appendsOf(inboxRoutes(systemEntryAccepted([1, 3], 1), [1, 2, 3]))).toEqual([
        [1, primary],
        [3, companion],
      ]);
      expect(appendsOf(inboxRoutes(receiptIssued([2], 1), [1, 2]))).toEqual([[2, companion]]);
    });

    it('appends it nowhere when the event names no device and a primary of 0 (an account without devices)', () => {
      expect(inboxRoutes(systemEntryAccepted([], 0), [1, 2])).toEqual([]);
      expect(inboxRoutes(receiptIssued([], 0), [1, 2])).toEqual([]);
    });
  });

  describe('when a record is from before the events named their devices and primary', () => {
    it('appends a system entry or a receipt to every device whose inbox the account holds', () => {
      expect(appendsOf(inboxRoutes(systemEntryAccepted([]), [1, 2, 5]))).toEqual([
        [1, primary],
        [2, primary],
        [5, primary],
      ]);
      expect(appendsOf(inboxRoutes(receiptIssued([]), [3]))).toEqual([[3, primary]]);
    });

    it('holds every device to the primary depth, the larger one, so folding it again drops nothing it kept', () => {
      expect(appendsOf(inboxRoutes(messageAccepted(), []))).toEqual([
        [1, primary],
        [2, primary],
        [4, primary],
      ]);
      expect(appendsOf(inboxRoutes(systemEntryAccepted([1, 2]), [1, 2, 3]))).toEqual([
        [1, primary],
        [2, primary],
      ]);
    });
  });

  describe('when entries leave an inbox', () => {
    it('removes acked entries, by id and through a sequence, as an ack', () => {
      expect(
        inboxRoutes(
          {
            $case: 'inboxAcked',
            value: {
              accountId: bob,
              deviceId: 2,
              serverMessageIds: ['m-9'],
              throughSequence: 4,
              ackedAt: now,
            },
          },
          [2],
        ),
      ).toEqual([
        {
          kind: 'remove',
          deviceId: 2,
          serverMessageIds: ['m-9'],
          throughSequence: 4,
          acked: true,
          ackedAt: now,
        },
      ]);
    });

    it('removes expired entries, not as an ack', () => {
      expect(
        inboxRoutes(
          {
            $case: 'inboxExpired',
            value: { accountId: bob, deviceId: 1, serverMessageIds: ['m-1'], expiredAt: now },
          },
          [1],
        ),
      ).toEqual([
        { kind: 'remove', deviceId: 1, serverMessageIds: ['m-1'], throughSequence: 0, acked: false },
      ]);
    });

    it('closes the inbox of a device that left the account', () => {
      expect(inboxRoutes({ $case: 'inboxClosed', value: { accountId: bob, deviceId: 2 } }, [1, 2])).toEqual([
        { kind: 'close', deviceId: 2 },
      ]);
    });
  });

  describe('when a connection or an instance is recorded', () => {
    it('changes no inbox', () => {
      expect(
        inboxRoutes(
          {
            $case: 'deviceConnected',
            value: { accountId: bob, deviceId: 1, instanceId: 'i-1', connectedAt: now },
          },
          [1],
        ),
      ).toEqual([]);
      expect(
        inboxRoutes(
          { $case: 'instanceAlive', value: { accountId: '', instanceId: 'i-1', at: now, validForMs: 1 } },
          [],
        ),
      ).toEqual([]);
    });
  });
});
