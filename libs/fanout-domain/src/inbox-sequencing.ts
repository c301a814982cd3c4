/**
 * Where an inbox sequence number is assigned: the fold of one account's inboxes over the fan-out
 * events keyed by it, in log order. Pure: the same inboxes and the same events give the same
 * inboxes, sequence numbers, entries and drop notices, on every instance, after a crash, in a
 * rebuild.
 * - Every entry appended to a device's inbox gets the next sequence number: one more than the last
 *   given (1 for the first), in the order the routes come (inbox-routing.ts); a number is never
 *   given twice, also when entries leave.
 * - Past its max depth an inbox drops its oldest entries and gets a notice entry after the new
 *   ones, with the next number, naming what was dropped (earlier notices among them included);
 *   its id derives from the event and the device, so a replay gives the same notice.
 * - A closed device's inbox is deleted and gets no more entries, whatever the events name.
 */
import type { InboxEntry } from '@tandem/contracts/tandem/fanout/v1/inbox';
import { entriesDroppedNotice, type NewInboxEntry, overflow } from './inbox';
import {
  asDropped,
  type DeviceInbox,
  emptyInbox,
  type InboxChange,
  type PendingEntry,
  pendingOf,
  removeEntries,
} from './inbox-head';
import { inboxRoutes } from './inbox-routing';
import type { FanoutDomainEvent } from './message.decider';

/** The entries, in the order given, with the sequence numbers that follow `lastSequence`. */
export function sequenceEntries(
  lastSequence: number,
  entries: readonly NewInboxEntry[],
  now: Date,
): InboxEntry[] {
  return entries.map((entry, index) => ({
    serverMessageId: entry.serverMessageId,
    sequence: lastSequence + index + 1,
    appendedAt: now,
    content: entry.content,
  }));
}

export interface AppendOptions {
  readonly now: Date;
  readonly maxDepth: number;
  /** The id of the notice entry, should entries be dropped; the same on every replay. */
  readonly noticeId: string;
}

/** Appends `entries` in order, dropping the oldest past `maxDepth` with a notice. */
export function appendEntries(
  inbox: DeviceInbox,
  entries: readonly NewInboxEntry[],
  options: AppendOptions,
): InboxChange {
  if (entries.length === 0) return { inbox, appended: [], removed: [] };
  const sequenced = sequenceEntries(inbox.lastSequence, entries, options.now);
  const held = [...inbox.pending, ...sequenced.map(pendingOf)];
  const excess = overflow(held.length, options.maxDepth);
  if (excess === 0) {
    return {
      inbox: { ...inbox, lastSequence: inbox.lastSequence + entries.length, pending: held },
      appended: sequenced,
      removed: [],
    };
  }
  const dropped = held.slice(0, excess);
  const notice = entriesDroppedNotice(dropped.map(asDropped), {
    serverMessageId: options.noticeId,
    sequence: inbox.lastSequence + entries.length + 1,
    now: options.now,
  });
  const droppedSequences = new Set(dropped.map((entry) => entry.sequence));
  return {
    inbox: {
      ...inbox,
      lastSequence: notice.sequence,
      pending: [...held.slice(excess), pendingOf(notice)],
    },
    appended: [...sequenced.filter((entry) => !droppedSequences.has(entry.sequence)), notice],
    removed: dropped.filter((entry) => entry.sequence <= inbox.lastSequence),
  };
}

/**
 * The inboxes of one account, as the projection stores them in the account's head (plain data, so
 * it is stored as it is).
 */
export type AccountInboxes = {
  /** Ascending by device id. */
  readonly inboxes: readonly DeviceInbox[];
  /** Devices that left the account: they get no more entries. */
  readonly closed: readonly number[];
};

export const noInboxes = (): AccountInboxes => ({ inboxes: [], closed: [] });

/** The event being folded, as the log recorded it. */
export interface FoldedEvent {
  readonly eventId: string;
  /** When it was recorded: the time of the entries it appends. */
  readonly occurredAt: Date;
}

/** Entries of a device that an ack removed, for the delivery receipts of their senders. */
export interface AckedInboxEntries {
  readonly deviceId: number;
  readonly entries: readonly PendingEntry[];
  readonly ackedAt: Date;
}

/** What folding one event did to an account's inboxes. */
export interface InboxesFolded {
  readonly account: AccountInboxes;
  /** The change of each device inbox, in the order made: entries to store, entries that left. */
  readonly changes: readonly InboxChange[];
  /** Entries a device's ack removed; none when nothing was acked. */
  readonly acked: readonly AckedInboxEntries[];
}

const inboxOf = (account: AccountInboxes, deviceId: number): DeviceInbox =>
  account.inboxes.find((inbox) => inbox.deviceId === deviceId) ?? emptyInbox(deviceId);

const withInbox = (account: AccountInboxes, inbox: DeviceInbox): AccountInboxes => ({
  ...account,
  inboxes: [...account.inboxes.filter((known) => known.deviceId !== inbox.deviceId), inbox].sort(
    (a, b) => a.deviceId - b.deviceId,
  ),
});

/** Folds one fan-out event of the account into its inboxes. */
export function foldInboxEvent(
  account: AccountInboxes,
  event: FanoutDomainEvent,
  folded: FoldedEvent,
): InboxesFolded {
  const changes: InboxChange[] = [];
  const acked: AckedInboxEntries[] = [];
  let next = account;
  const held = account.inboxes.map((inbox) => inbox.deviceId);
  for (const route of inboxRoutes(event, held)) {
    switch (route.kind) {
      case 'append': {
        if (next.closed.includes(route.deviceId)) break;
        const change = appendEntries(inboxOf(next, route.deviceId), [route.entry], {
          now: folded.occurredAt,
          maxDepth: route.maxDepth,
          noticeId: `${folded.eventId}:dropped:${route.deviceId}`,
        });
        next = withInbox(next, change.inbox);
        changes.push(change);
        break;
      }
      case 'remove': {
        const change = removeEntries(
          inboxOf(next, route.deviceId),
          route.serverMessageIds,
          route.throughSequence,
        );
        next = withInbox(next, change.inbox);
        changes.push(change);
        if (route.acked && change.removed.length > 0)
          acked.push({
            deviceId: route.deviceId,
            entries: change.removed,
            ackedAt: route.ackedAt ?? folded.occurredAt,
          });
        break;
      }
      case 'close': {
        const inbox = inboxOf(next, route.deviceId);
        const change = removeEntries(
          inbox,
          inbox.pending.map((entry) => entry.serverMessageId),
        );
        changes.push(change);
        next = {
          inboxes: next.inboxes.filter((known) => known.deviceId !== route.deviceId),
          closed: next.closed.includes(route.deviceId) ? next.closed : [...next.closed, route.deviceId],
        };
        break;
      }
      default:
        route satisfies never;
    }
  }
  return { account: next, changes, acked };
}
