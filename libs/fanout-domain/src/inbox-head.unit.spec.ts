import { EnvelopeType, SystemEntryKind } from '@tandem/contracts/tandem/fanout/v1/inbox';
import { describe, expect, it } from 'vitest';
import type { NewInboxEntry } from './inbox';
import {
  type AppendOptions,
  appendEntries,
  type DeviceInbox,
  emptyInbox,
  expiredIn,
  type PendingEntry,
  removeEntries,
} from './inbox-head';

const alice = 'account-alice';
const bob = 'account-bob';
const now = new Date('2026-11-25T12:00:00.000Z');
const later = new Date('2026-11-25T13:00:00.000Z');
const minute = 60 * 1000;

const message = (serverMessageId: string, senderAccountId = alice): NewInboxEntry => ({
  serverMessageId,
  content: {
    $case: 'message',
    value: {
      senderAccountId,
      senderDeviceId: 1,
      recipientAccountId: bob,
      serverTimestamp: now,
      type: EnvelopeType.ENVELOPE_TYPE_CIPHERTEXT,
      content: Buffer.from(`ciphertext of ${serverMessageId}`),
    },
  },
});

const receipt = (serverMessageId: string): NewInboxEntry => ({
  serverMessageId,
  content: {
    $case: 'receipt',
    value: { recipientAccountId: alice, recipientDeviceId: 2, serverMessageIds: ['x'], deliveredAt: now },
  },
});

const system = (serverMessageId: string): NewInboxEntry => ({
  serverMessageId,
  content: {
    $case: 'system',
    value: {
      kind: SystemEntryKind.SYSTEM_ENTRY_KIND_PROFILE_UPDATED,
      sourceEventId: serverMessageId,
      payloadType: 'tandem.accounts.v1.AccountEvent',
      payload: Buffer.from('profile'),
    },
  },
});

const messages = (...ids: string[]): NewInboxEntry[] => ids.map((id) => message(id));

const options = (overrides: Partial<AppendOptions> = {}): AppendOptions => ({
  now,
  maxDepth: 3,
  noticeId: 'notice-1',
  ...overrides,
});

/** The inbox of Bob's phone after appending each batch in turn, with the given options. */
const inboxAfter = (...batches: [NewInboxEntry[], AppendOptions?][]): DeviceInbox =>
  batches.reduce(
    (inbox, [entries, appendOptions = options()]) => appendEntries(inbox, entries, appendOptions).inbox,
    emptyInbox(1),
  );

const sequencesOf = (entries: readonly { readonly sequence: number }[]): number[] =>
  entries.map((entry) => entry.sequence);

const idsOf = (entries: readonly { readonly serverMessageId: string }[]): string[] =>
  entries.map((entry) => entry.serverMessageId);

const pendingMessage = (sequence: number, serverMessageId: string, appendedAt = now): PendingEntry => ({
  sequence,
  serverMessageId,
  appendedAt: appendedAt.getTime(),
  senderAccountId: alice,
  droppedFrom: 0,
  droppedTo: 0,
  droppedCount: 0,
});

const droppedNotice = (
  serverMessageId: string,
  sequence: number,
  value: { firstSequence: number; lastSequence: number; droppedCount: number },
  appendedAt = now,
) => ({
  serverMessageId,
  sequence,
  appendedAt,
  content: { $case: 'entriesDropped' as const, value },
});

describe("a device's inbox head", () => {
  describe('when entries are appended within the max depth', () => {
    it('numbers them after the last sequence given, without gaps, in the order given', () => {
      const inbox: DeviceInbox = { ...emptyInbox(1), lastSequence: 41 };
      const change = appendEntries(inbox, messages('c', 'a', 'b'), options({ maxDepth: 10 }));
      expect(sequencesOf(change.appended)).toEqual([42, 43, 44]);
      expect(idsOf(change.appended)).toEqual(['c', 'a', 'b']);
      expect(change.inbox.lastSequence).toBe(44);
      expect(sequencesOf(change.inbox.pending)).toEqual([42, 43, 44]);
    });

    it('numbers the first entries of an empty inbox from 1 and continues in the next append', () => {
      const first = appendEntries(emptyInbox(1), messages('a', 'b'), options());
      const second = appendEntries(first.inbox, messages('c'), options());
      expect(sequencesOf(first.appended)).toEqual([1, 2]);
      expect(sequencesOf(second.appended)).toEqual([3]);
      expect(sequencesOf(second.inbox.pending)).toEqual([1, 2, 3]);
    });

    it('stamps every entry with the time of the append', () => {
      const change = appendEntries(inboxAfter([messages('a')]), messages('b', 'c'), options({ now: later }));
      expect(change.appended.map((entry) => entry.appendedAt)).toEqual([later, later]);
      expect(change.inbox.pending.map((entry) => entry.appendedAt)).toEqual([
        now.getTime(),
        later.getTime(),
        later.getTime(),
      ]);
    });

    it('stores the entries with their content as given', () => {
      const change = appendEntries(emptyInbox(1), [message('a')], options());
      expect(change.appended).toEqual([{ ...message('a'), sequence: 1, appendedAt: now }]);
    });

    it('drops nothing when the inbox reaches exactly its max depth', () => {
      const change = appendEntries(inboxAfter([messages('a')]), messages('b', 'c'), options());
      expect(idsOf(change.appended)).toEqual(['b', 'c']);
      expect(change.removed).toEqual([]);
      expect(idsOf(change.inbox.pending)).toEqual(['a', 'b', 'c']);
      expect(change.inbox.lastSequence).toBe(3);
    });

    it('holds the sender account of a message and an empty one for receipts and system entries', () => {
      const change = appendEntries(
        emptyInbox(1),
        [message('m1', alice), receipt('r1'), system('s1'), message('m2', bob)],
        options({ maxDepth: 10 }),
      );
      expect(change.inbox.pending).toEqual([
        { ...pendingMessage(1, 'm1'), senderAccountId: alice },
        { ...pendingMessage(2, 'r1'), senderAccountId: '' },
        { ...pendingMessage(3, 's1'), senderAccountId: '' },
        { ...pendingMessage(4, 'm2'), senderAccountId: bob },
      ]);
    });

    it('changes nothing when there are no entries to append', () => {
      const inbox = inboxAfter([messages('a', 'b')]);
      const change = appendEntries(inbox, [], options({ now: later }));
      expect(change).toEqual({ inbox, appended: [], removed: [] });
    });
  });

  describe('when entries are appended past the max depth', () => {
    it('drops the oldest entries and appends a notice with the next sequence and the given id', () => {
      const inbox = inboxAfter([messages('a', 'b', 'c')]);
      const change = appendEntries(inbox, messages('d'), options({ noticeId: 'notice-7', now: later }));
      expect(change.appended).toEqual([
        { ...message('d'), sequence: 4, appendedAt: later },
        droppedNotice('notice-7', 5, { firstSequence: 1, lastSequence: 2, droppedCount: 2 }, later),
      ]);
      expect(idsOf(change.inbox.pending)).toEqual(['c', 'd', 'notice-7']);
      expect(change.inbox.lastSequence).toBe(5);
    });

    it('holds the notice with the range and count it names', () => {
      const change = appendEntries(inboxAfter([messages('a', 'b', 'c')]), messages('d'), options());
      expect(change.inbox.pending.at(-1)).toEqual({
        sequence: 5,
        serverMessageId: 'notice-1',
        appendedAt: now.getTime(),
        senderAccountId: '',
        droppedFrom: 1,
        droppedTo: 2,
        droppedCount: 2,
      });
    });

    it('keeps the inbox at its max depth, notice included', () => {
      const change = appendEntries(inboxAfter([messages('a', 'b', 'c')]), messages('d', 'e'), options());
      expect(change.inbox.pending).toHaveLength(3);
      expect(sequencesOf(change.inbox.pending)).toEqual([4, 5, 6]);
    });

    it('returns the stored entries it dropped as removed', () => {
      const inbox = inboxAfter([messages('a', 'b', 'c')]);
      const change = appendEntries(inbox, messages('d'), options());
      expect(change.removed).toEqual(inbox.pending.slice(0, 2));
    });

    it('lists as removed only stored entries, never new ones dropped in the same append', () => {
      const inbox = inboxAfter([messages('a')]);
      const change = appendEntries(inbox, messages('b', 'c', 'd', 'e'), options());
      expect(change.removed).toEqual([pendingMessage(1, 'a')]);
      expect(change.appended).toEqual([
        { ...message('d'), sequence: 4, appendedAt: now },
        { ...message('e'), sequence: 5, appendedAt: now },
        droppedNotice('notice-1', 6, { firstSequence: 1, lastSequence: 3, droppedCount: 3 }),
      ]);
    });

    it('keeps only the newest entries of a batch larger than the max depth, with a notice', () => {
      const change = appendEntries(emptyInbox(1), messages('a', 'b', 'c', 'd', 'e'), options());
      expect(change.removed).toEqual([]);
      expect(change.appended).toEqual([
        { ...message('d'), sequence: 4, appendedAt: now },
        { ...message('e'), sequence: 5, appendedAt: now },
        droppedNotice('notice-1', 6, { firstSequence: 1, lastSequence: 3, droppedCount: 3 }),
      ]);
      expect(idsOf(change.inbox.pending)).toEqual(['d', 'e', 'notice-1']);
      expect(change.inbox.lastSequence).toBe(6);
    });

    it("folds an earlier notice among the dropped entries into the new notice's range and count", () => {
      const inbox = inboxAfter([messages('a', 'b', 'c', 'd'), options({ noticeId: 'notice-1' })]);
      expect(idsOf(inbox.pending)).toEqual(['c', 'd', 'notice-1']);
      const change = appendEntries(inbox, messages('f', 'g'), options({ noticeId: 'notice-2' }));
      expect(idsOf(change.removed)).toEqual(['c', 'd', 'notice-1']);
      expect(change.appended.at(-1)).toEqual(
        droppedNotice('notice-2', 8, { firstSequence: 1, lastSequence: 4, droppedCount: 4 }),
      );
      expect(change.inbox.pending.at(-1)).toMatchObject({ droppedFrom: 1, droppedCount: 4 });
    });

    it('names only what was dropped when the entry before a folded notice was acked', () => {
      const full = inboxAfter([messages('a', 'b', 'c', 'd'), options({ noticeId: 'notice-1' })]);
      const acked = removeEntries(full, ['d']).inbox;
      const change = appendEntries(acked, messages('f', 'g'), options({ noticeId: 'notice-2' }));
      expect(idsOf(change.removed)).toEqual(['c', 'notice-1']);
      expect(change.appended.at(-1)).toEqual(
        droppedNotice('notice-2', 8, { firstSequence: 1, lastSequence: 3, droppedCount: 3 }),
      );
    });

    it('counts fewer entries than the range when some in it were acked before', () => {
      const full = inboxAfter([messages('a', 'b', 'c', 'd'), options({ noticeId: 'notice-1' })]);
      const acked = removeEntries(full, ['c']).inbox;
      const change = appendEntries(acked, messages('f', 'g'), options({ noticeId: 'notice-2' }));
      expect(idsOf(change.removed)).toEqual(['d', 'notice-1']);
      expect(change.appended.at(-1)).toEqual(
        droppedNotice('notice-2', 8, { firstSequence: 1, lastSequence: 4, droppedCount: 3 }),
      );
    });
  });

  describe('when entries are removed', () => {
    const inbox = inboxAfter([messages('a', 'b', 'c')]);

    it('removes the entries with the given server message ids and returns them', () => {
      const change = removeEntries(inbox, ['c', 'a']);
      expect(change.removed).toEqual([pendingMessage(1, 'a'), pendingMessage(3, 'c')]);
      expect(change.inbox.pending).toEqual([pendingMessage(2, 'b')]);
      expect(change.appended).toEqual([]);
    });

    it('keeps the last sequence, so the next entry gets a number not used before', () => {
      const change = removeEntries(inbox, ['c']);
      expect(change.inbox.lastSequence).toBe(3);
      expect(sequencesOf(appendEntries(change.inbox, messages('d'), options()).appended)).toEqual([4]);
    });

    it('removes every entry up to the sequence of a cumulative ack, and the ids named besides', () => {
      const change = removeEntries(inbox, ['c'], 1);
      expect(idsOf(change.removed)).toEqual(['a', 'c']);
      expect(idsOf(change.inbox.pending)).toEqual(['b']);
      expect(change.inbox.lastSequence).toBe(3);
    });

    it('removes nothing again when a cumulative ack is repeated', () => {
      const once = removeEntries(inbox, [], 2).inbox;
      const again = removeEntries(once, [], 2);
      expect(again.removed).toEqual([]);
      expect(again.inbox).toBe(once);
    });

    it('ignores ids the inbox does not hold', () => {
      const change = removeEntries(inbox, ['b', 'unknown']);
      expect(idsOf(change.removed)).toEqual(['b']);
      expect(idsOf(change.inbox.pending)).toEqual(['a', 'c']);
    });

    it('changes nothing when it holds none of the ids', () => {
      expect(removeEntries(inbox, ['unknown'])).toEqual({ inbox, appended: [], removed: [] });
      expect(removeEntries(inbox, [])).toEqual({ inbox, appended: [], removed: [] });
    });
  });

  describe('when the sweeper looks for expired entries', () => {
    it('finds the entries appended at or before the cutoff', () => {
      const cutoff = new Date(now.getTime() + minute);
      const inbox = inboxAfter(
        [messages('old'), options({ now })],
        [messages('exactly'), options({ now: cutoff })],
        [messages('recent'), options({ now: new Date(cutoff.getTime() + 1) })],
      );
      expect(idsOf(expiredIn(inbox, cutoff))).toEqual(['old', 'exactly']);
    });

    it('finds none in an inbox appended to after the cutoff', () => {
      expect(expiredIn(inboxAfter([messages('a', 'b')]), new Date(now.getTime() - 1))).toEqual([]);
    });
  });

  describe('when the same events are applied again (replay)', () => {
    const replay = () => {
      const appended = appendEntries(emptyInbox(1), messages('a', 'b', 'c'), options());
      const acked = removeEntries(appended.inbox, ['b']);
      const overflowed = appendEntries(acked.inbox, messages('d', 'e', 'f'), options({ now: later }));
      return { appended, acked, overflowed };
    };

    it('gives the same inbox, sequence numbers and entries', () => {
      expect(replay()).toEqual(replay());
    });

    it('gives the same change for the same append to the same inbox, and leaves that inbox as it was', () => {
      const inbox = inboxAfter([messages('a', 'b', 'c')]);
      const before = structuredClone(inbox);
      const first = appendEntries(inbox, messages('d', 'e'), options());
      const second = appendEntries(inbox, messages('d', 'e'), options());
      expect(second).toEqual(first);
      expect(inbox).toEqual(before);
    });
  });
});
