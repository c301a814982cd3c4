import { EnvelopeType, SystemEntryKind } from '@tandem/contracts/tandem/fanout/v1/inbox';
import { describe, expect, it } from 'vitest';
import {
  type AccountInboxes,
  foldInboxEvent,
  type FoldedEvent,
  type InboxesFolded,
  noInboxes,
} from './inbox-sequencing';
import type { FanoutDomainEvent } from './message.decider';

const alice = 'account-alice';
const bob = 'account-bob';
const start = new Date('2026-12-07T12:00:00.000Z');

/** The n-th event of a log, recorded a second after the one before. */
const recorded = (index: number): FoldedEvent => ({
  eventId: `event-${index}`,
  occurredAt: new Date(start.getTime() + index * 1000),
});

/** A message from alice to bob's devices; bob's primary is device 1. */
const message = (serverMessageId: string, deviceIds: number[] = [1, 2]): FanoutDomainEvent => ({
  $case: 'messageAccepted',
  value: {
    accountId: bob,
    serverMessageId,
    serverTimestamp: start,
    senderAccountId: alice,
    senderDeviceId: 1,
    clientMessageId: serverMessageId,
    recipientListVersion: 2,
    envelopes: deviceIds.map((deviceId) => ({
      accountId: bob,
      deviceId,
      registrationId: 10 + deviceId,
      type: EnvelopeType.ENVELOPE_TYPE_CIPHERTEXT,
      content: Buffer.from(`${serverMessageId} for ${deviceId}`),
    })),
    primaryDeviceId: 1,
  },
});

const profileUpdated = (sourceEventId: string, deviceIds: number[]): FanoutDomainEvent => ({
  $case: 'systemEntryAccepted',
  value: {
    accountId: bob,
    serverMessageId: sourceEventId,
    entry: {
      kind: SystemEntryKind.SYSTEM_ENTRY_KIND_PROFILE_UPDATED,
      sourceEventId,
      payloadType: 'tandem.accounts.v1.AccountEvent',
      payload: Buffer.from('profile'),
    },
    deviceIds,
    primaryDeviceId: 1,
  },
});

/** A system entry recorded before the events named their devices and primary (neither field set). */
const profileUpdatedBeforeNames = (sourceEventId: string): FanoutDomainEvent => {
  const event = profileUpdated(sourceEventId, []);
  return event.$case === 'systemEntryAccepted'
    ? { ...event, value: { ...event.value, primaryDeviceId: undefined } }
    : event;
};

const acked = (deviceId: number, throughSequence: number, ackedAt?: Date): FanoutDomainEvent => ({
  $case: 'inboxAcked',
  value: { accountId: bob, deviceId, serverMessageIds: [], throughSequence, ackedAt },
});

const closed = (deviceId: number): FanoutDomainEvent => ({
  $case: 'inboxClosed',
  value: { accountId: bob, deviceId },
});

/** Folds `events` from no inboxes, as the log holds them. */
const foldAll = (events: readonly FanoutDomainEvent[]): AccountInboxes =>
  events.reduce(
    (account, event, index) => foldInboxEvent(account, event, recorded(index)).account,
    noInboxes(),
  );

/** Given the events of the log so far, when one more is folded, then what it did. */
function given(events: readonly FanoutDomainEvent[]) {
  return {
    when(event: FanoutDomainEvent): InboxesFolded {
      return foldInboxEvent(foldAll(events), event, recorded(events.length));
    },
  };
}

/** The entries a fold appended, as [device, sequence, server message id]. */
const appended = (folded: InboxesFolded) =>
  folded.changes.flatMap((change) =>
    change.appended.map((entry) => [change.inbox.deviceId, entry.sequence, entry.serverMessageId]),
  );

describe('assigning inbox sequence numbers', () => {
  describe('when the first entries reach an account', () => {
    it('numbers each device inbox from 1', () => {
      const folded = given([]).when(message('m-1'));
      expect(appended(folded)).toEqual([
        [1, 1, 'm-1'],
        [2, 1, 'm-1'],
      ]);
      expect(folded.account.inboxes.map((inbox) => [inbox.deviceId, inbox.lastSequence])).toEqual([
        [1, 1],
        [2, 1],
      ]);
    });

    it('stamps the entries with the time the event was recorded', () => {
      const [change] = given([]).when(message('m-1', [1])).changes;
      expect(change?.appended[0]?.appendedAt).toEqual(recorded(0).occurredAt);
    });
  });

  describe('when more entries come', () => {
    it('gives each device the next number of its own inbox, without gaps', () => {
      expect(
        appended(given([message('m-1', [1]), message('m-2')]).when(profileUpdated('p-1', [1, 2]))),
      ).toEqual([
        [1, 3, 'p-1'],
        [2, 2, 'p-1'],
      ]);
    });

    it('never gives a number twice, also after the entries holding it were acked', () => {
      const folded = given([message('m-1'), message('m-2'), acked(1, 2)]).when(message('m-3'));
      expect(appended(folded)).toEqual([
        [1, 3, 'm-3'],
        [2, 3, 'm-3'],
      ]);
      expect(
        folded.account.inboxes.find((inbox) => inbox.deviceId === 1)?.pending.map((e) => e.sequence),
      ).toEqual([3]);
    });

    it('gives the same numbers, entries and inboxes when the same events are folded again', () => {
      const log = [message('m-1'), profileUpdated('p-1', [1, 2]), acked(2, 1), message('m-2')];
      expect(foldAll(log)).toEqual(foldAll(log));
      expect(given(log).when(message('m-3'))).toEqual(given(log).when(message('m-3')));
    });
  });

  describe('when a device acks', () => {
    it('removes the entries through the sequence and reports them, with when the device acked', () => {
      const at = new Date('2026-12-07T13:00:00.000Z');
      const folded = given([message('m-1'), message('m-2')]).when(acked(2, 1, at));
      expect(folded.acked).toEqual([
        {
          deviceId: 2,
          entries: [expect.objectContaining({ sequence: 1, serverMessageId: 'm-1' })],
          ackedAt: at,
        },
      ]);
      expect(
        folded.account.inboxes.find((inbox) => inbox.deviceId === 2)?.pending.map((e) => e.sequence),
      ).toEqual([2]);
    });

    it('reports the time the ack was recorded when the event does not say when the device acked', () => {
      const folded = given([message('m-1')]).when(acked(1, 1));
      expect(folded.acked.map((ack) => ack.ackedAt)).toEqual([recorded(1).occurredAt]);
    });

    it('reports nothing for an ack of entries the inbox no longer holds', () => {
      expect(given([message('m-1'), acked(1, 1)]).when(acked(1, 1)).acked).toEqual([]);
    });
  });

  describe('when a device leaves the account', () => {
    it('deletes its inbox with its entries', () => {
      const folded = given([message('m-1'), message('m-2')]).when(closed(2));
      expect(folded.account.inboxes.map((inbox) => inbox.deviceId)).toEqual([1]);
      expect(folded.account.closed).toEqual([2]);
      expect(
        folded.changes.flatMap((change) => change.removed.map((entry) => entry.serverMessageId)),
      ).toEqual(['m-1', 'm-2']);
    });

    it('appends nothing more to it, whatever the events name', () => {
      const folded = given([message('m-1'), closed(2)]).when(profileUpdated('p-1', [1, 2]));
      expect(appended(folded)).toEqual([[1, 2, 'p-1']]);
      expect(folded.account.inboxes.map((inbox) => inbox.deviceId)).toEqual([1]);
    });
  });

  describe('when a record is from before the events named their devices', () => {
    it('appends a system entry to every device whose inbox the account holds', () => {
      const old = profileUpdatedBeforeNames('p-old');
      expect(appended(given([message('m-1', [1, 3]), closed(3), message('m-2', [2])]).when(old))).toEqual([
        [1, 2, 'p-old'],
        [2, 2, 'p-old'],
      ]);
    });
  });
});
