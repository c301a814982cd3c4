import type { MessageAccepted } from '@tandem/contracts/tandem/fanout/v1/events';
import { EnvelopeType, type InboxEntry } from '@tandem/contracts/tandem/fanout/v1/inbox';
import { type DomainError, isDomainError } from '@tandem/decider';
import { describe, expect, it } from 'vitest';
import {
  deliveryReceipts,
  entriesDroppedNotice,
  expiredEntries,
  expiryCutoff,
  INBOX_RETENTION_MS,
  MAX_ACK_IDS,
  MAX_INBOX_DEPTH,
  maxInboxDepth,
  messageEntries,
  type NewInboxEntry,
  overflow,
  sequenceEntries,
  validateAck,
} from './inbox';

/** Acked entries as the receipt rule reads them. */
const ackedOf = (entries: readonly InboxEntry[]) =>
  entries.map((entry) => ({
    serverMessageId: entry.serverMessageId,
    senderAccountId: entry.content?.$case === 'message' ? entry.content.value.senderAccountId : '',
  }));

const alice = 'account-alice';
const bob = 'account-bob';
const now = new Date('2026-11-25T12:00:00.000Z');
const serverTimestamp = new Date('2026-11-25T11:59:00.000Z');
const day = 24 * 60 * 60 * 1000;

const message = (serverMessageId: string, senderAccountId = alice): NewInboxEntry => ({
  serverMessageId,
  content: {
    $case: 'message',
    value: {
      senderAccountId,
      senderDeviceId: 1,
      recipientAccountId: bob,
      serverTimestamp,
      type: EnvelopeType.ENVELOPE_TYPE_CIPHERTEXT,
      content: Buffer.from(`ciphertext of ${serverMessageId}`),
    },
  },
});

const entry = (sequence: number, content = message(`m${sequence}`), appendedAt = now): InboxEntry => ({
  ...content,
  sequence,
  appendedAt,
});

const refusal = (run: () => unknown): DomainError => {
  try {
    run();
  } catch (error) {
    if (isDomainError(error)) return error;
    throw error;
  }
  throw new Error('expected a refusal');
};

describe('the inbox rules', () => {
  describe('when a message is accepted', () => {
    it("gives each device it has an envelope for an entry with that device's ciphertext", () => {
      const accepted: MessageAccepted = {
        accountId: bob,
        serverMessageId: 'server-1',
        serverTimestamp,
        senderAccountId: alice,
        senderDeviceId: 1,
        clientMessageId: 'client-1',
        recipientListVersion: 3,
        envelopes: [
          {
            accountId: bob,
            deviceId: 1,
            registrationId: 11,
            type: EnvelopeType.ENVELOPE_TYPE_PREKEY_MESSAGE,
            content: Buffer.from('for bob 1'),
          },
          {
            accountId: alice,
            deviceId: 2,
            registrationId: 22,
            type: EnvelopeType.ENVELOPE_TYPE_CIPHERTEXT,
            content: Buffer.from('for alice 2'),
          },
        ],
      };
      const base = { senderAccountId: alice, senderDeviceId: 1, recipientAccountId: bob, serverTimestamp };
      expect(messageEntries(accepted)).toEqual([
        {
          device: { accountId: bob, deviceId: 1 },
          entry: {
            serverMessageId: 'server-1',
            content: {
              $case: 'message',
              value: {
                ...base,
                type: EnvelopeType.ENVELOPE_TYPE_PREKEY_MESSAGE,
                content: Buffer.from('for bob 1'),
              },
            },
          },
        },
        {
          device: { accountId: alice, deviceId: 2 },
          entry: {
            serverMessageId: 'server-1',
            content: {
              $case: 'message',
              value: {
                ...base,
                type: EnvelopeType.ENVELOPE_TYPE_CIPHERTEXT,
                content: Buffer.from('for alice 2'),
              },
            },
          },
        },
      ]);
    });
  });

  describe('when entries are appended', () => {
    it('numbers the first entries of an inbox from 1, in the order given', () => {
      expect(sequenceEntries(0, [message('a'), message('b')], now)).toEqual([
        { ...message('a'), sequence: 1, appendedAt: now },
        { ...message('b'), sequence: 2, appendedAt: now },
      ]);
    });

    it('continues from the last sequence given, without gaps', () => {
      expect(
        sequenceEntries(41, [message('a'), message('b'), message('c')], now).map((e) => e.sequence),
      ).toEqual([42, 43, 44]);
    });

    it('appends nothing for no entries', () => {
      expect(sequenceEntries(7, [], now)).toEqual([]);
    });
  });

  describe('when an inbox is over its max depth', () => {
    it('drops nothing up to the max depth', () => {
      expect(overflow(0, 3)).toBe(0);
      expect(overflow(3, 3)).toBe(0);
    });

    it('drops the oldest entries beyond it and one more to make room for the notice', () => {
      expect(overflow(4, 3)).toBe(2);
      expect(overflow(10, 3)).toBe(8);
    });

    it('allows the primary more entries than a companion, which can sync history from it', () => {
      expect(maxInboxDepth(true)).toBe(MAX_INBOX_DEPTH.primary);
      expect(maxInboxDepth(false)).toBe(MAX_INBOX_DEPTH.companion);
      expect(MAX_INBOX_DEPTH.primary).toBeGreaterThan(MAX_INBOX_DEPTH.companion);
    });

    it('appends a notice naming the range and count of the entries dropped', () => {
      expect(
        entriesDroppedNotice([entry(3), entry(5), entry(6)], {
          serverMessageId: 'notice-1',
          sequence: 12,
          now,
        }),
      ).toEqual({
        serverMessageId: 'notice-1',
        sequence: 12,
        appendedAt: now,
        content: { $case: 'entriesDropped', value: { firstSequence: 3, lastSequence: 6, droppedCount: 3 } },
      });
    });

    it('carries an earlier notice among the dropped entries into the new one', () => {
      const earlier = entriesDroppedNotice([entry(1), entry(2)], {
        serverMessageId: 'notice-1',
        sequence: 9,
        now,
      });
      expect(
        entriesDroppedNotice([entry(4), earlier, entry(10)], {
          serverMessageId: 'notice-2',
          sequence: 15,
          now,
        }).content,
      ).toEqual({ $case: 'entriesDropped', value: { firstSequence: 1, lastSequence: 10, droppedCount: 4 } });
    });
  });

  describe('when the sweeper looks for expired entries', () => {
    it('finds the entries appended 30 days ago or earlier', () => {
      const old = entry(1, message('old'), new Date(now.getTime() - 31 * day));
      const exactly = entry(2, message('exactly'), new Date(now.getTime() - INBOX_RETENTION_MS));
      const recent = entry(3, message('recent'), new Date(now.getTime() - INBOX_RETENTION_MS + 1));
      expect(expiredEntries([old, exactly, recent], now)).toEqual([old, exactly]);
      expect(INBOX_RETENTION_MS).toBe(30 * day);
    });

    it('puts the cutoff one retention before now', () => {
      expect(expiryCutoff(now, day)).toEqual(new Date('2026-11-24T12:00:00.000Z'));
    });
  });

  describe('when a device acks entries', () => {
    const bobsPhone = { accountId: bob, deviceId: 1 };

    it('issues one receipt per account that sent messages, with their ids in ack order', () => {
      const carol = 'account-carol';
      expect(
        deliveryReceipts(
          bobsPhone,
          ackedOf([
            entry(1, message('m1', alice)),
            entry(2, message('m2', carol)),
            entry(3, message('m3', alice)),
          ]),
        ),
      ).toEqual([
        { senderAccountId: alice, serverMessageIds: ['m1', 'm3'] },
        { senderAccountId: carol, serverMessageIds: ['m2'] },
      ]);
    });

    it("issues none for its own account's messages: sync copies and notes to self", () => {
      expect(deliveryReceipts(bobsPhone, ackedOf([entry(1, message('m1', bob))]))).toEqual([]);
    });

    it('issues none for receipts, system entries or notices', () => {
      const receipt = entry(1, {
        serverMessageId: 'r1',
        content: {
          $case: 'receipt',
          value: {
            recipientAccountId: alice,
            recipientDeviceId: 2,
            serverMessageIds: ['x'],
            deliveredAt: now,
          },
        },
      });
      const notice = entriesDroppedNotice([entry(2)], { serverMessageId: 'n1', sequence: 3, now });
      expect(deliveryReceipts(bobsPhone, ackedOf([receipt, notice]))).toEqual([]);
    });

    it('names each message once when it is acked twice in a batch', () => {
      expect(deliveryReceipts(bobsPhone, ackedOf([entry(1), entry(1)]))).toEqual([
        { senderAccountId: alice, serverMessageIds: ['m1'] },
      ]);
    });

    it('accepts 1 to 100 ids, each once', () => {
      expect(validateAck(['a', 'b', 'a'])).toEqual(['a', 'b']);
      expect(validateAck(Array.from({ length: MAX_ACK_IDS }, (_, i) => `m${i}`))).toHaveLength(100);
    });

    it('takes a cumulative ack without ids', () => {
      expect(validateAck([], 7)).toEqual([]);
      expect(validateAck(['a'], 7)).toEqual(['a']);
    });

    it.each([
      ['a negative sequence', -1],
      ['a fraction', 1.5],
    ])('refuses a cumulative ack through %s', (_, sequence) => {
      const error = refusal(() => validateAck([], sequence));
      expect(error.kind).toBe('invalid-argument');
      expect(error.field).toBe('through_sequence');
    });

    it.each([
      ['no ids', [], /must name an entry/],
      ['more than 100 ids', Array.from({ length: MAX_ACK_IDS + 1 }, (_, i) => `m${i}`), /at most 100/],
      ['an empty id', ['a', ''], /empty id/],
    ])('refuses %s', (_, ids, message) => {
      const error = refusal(() => validateAck(ids));
      expect(error.kind).toBe('invalid-argument');
      expect(error.field).toBe('server_message_ids');
      expect(error.message).toMatch(message);
    });
  });
});
