/**
 * A device's inbox as the inbox projection keeps it: the entries it holds, in sequence order, and
 * the last sequence number given. The entries' contents are stored apart; this is what every
 * change of the inbox is decided on, so applying the same events to the same inbox gives the same
 * inbox, the same sequence numbers and the same entries.
 * - New entries get the numbers after the last one given, in the order they come.
 * - Past the max depth the oldest entries are dropped and a notice entry is appended after them,
 *   naming the range and count of what was dropped (earlier notices among them included).
 * - Removing entries (acked, expired) leaves the other entries and the last sequence as they are.
 */
import type { InboxEntry } from '@tandem/contracts/tandem/fanout/v1/inbox';
import { entriesDroppedNotice, type NewInboxEntry, overflow, sequenceEntries } from './inbox';

/** One entry an inbox holds. */
export type PendingEntry = {
  readonly sequence: number;
  readonly serverMessageId: string;
  /** When it was appended, in milliseconds since the epoch. */
  readonly appendedAt: number;
  /** The account that sent it, for a message; empty otherwise. */
  readonly senderAccountId: string;
  /** For a notice of dropped entries: the range of sequences it names and how many; else 0s. */
  readonly droppedFrom: number;
  readonly droppedTo: number;
  readonly droppedCount: number;
};

/** Plain data (type aliases, not interfaces), so a projection stores it as a document as it is. */
export type DeviceInbox = {
  readonly deviceId: number;
  readonly lastSequence: number;
  readonly pending: readonly PendingEntry[];
};

export const emptyInbox = (deviceId: number): DeviceInbox => ({ deviceId, lastSequence: 0, pending: [] });

function pendingOf(entry: InboxEntry): PendingEntry {
  const content = entry.content;
  return {
    sequence: entry.sequence,
    serverMessageId: entry.serverMessageId,
    appendedAt: entry.appendedAt?.getTime() ?? 0,
    senderAccountId: content?.$case === 'message' ? content.value.senderAccountId : '',
    droppedFrom: content?.$case === 'entriesDropped' ? content.value.firstSequence : 0,
    droppedTo: content?.$case === 'entriesDropped' ? content.value.lastSequence : 0,
    droppedCount: content?.$case === 'entriesDropped' ? content.value.droppedCount : 0,
  };
}

/** A pending entry as the notice rule reads it: a notice names a range, any other entry itself. */
function asDropped(pending: PendingEntry): InboxEntry {
  return {
    serverMessageId: pending.serverMessageId,
    sequence: pending.sequence,
    appendedAt: new Date(pending.appendedAt),
    content:
      pending.droppedCount > 0
        ? {
            $case: 'entriesDropped',
            value: {
              firstSequence: pending.droppedFrom,
              lastSequence: pending.droppedTo,
              droppedCount: pending.droppedCount,
            },
          }
        : undefined,
  };
}

export interface AppendOptions {
  readonly now: Date;
  readonly maxDepth: number;
  /** The id of the notice entry, should entries be dropped; the same on every replay. */
  readonly noticeId: string;
}

export interface InboxChange {
  readonly inbox: DeviceInbox;
  /** Entries to store: appended and still held. */
  readonly appended: readonly InboxEntry[];
  /** Entries the inbox no longer holds. */
  readonly removed: readonly PendingEntry[];
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
 * Removes the entries with the given server message ids and, for a cumulative ack, every entry up to
 * `throughSequence` (0 for none); ids the inbox does not hold are ignored.
 */
export function removeEntries(
  inbox: DeviceInbox,
  serverMessageIds: readonly string[],
  throughSequence = 0,
): InboxChange {
  const ids = new Set(serverMessageIds);
  const leaves = (entry: PendingEntry) => entry.sequence <= throughSequence || ids.has(entry.serverMessageId);
  const removed = inbox.pending.filter(leaves);
  if (removed.length === 0) return { inbox, appended: [], removed };
  return {
    inbox: { ...inbox, pending: inbox.pending.filter((entry) => !leaves(entry)) },
    appended: [],
    removed,
  };
}

/** The entries appended at or before `cutoff`. */
export const expiredIn = (inbox: DeviceInbox, cutoff: Date): PendingEntry[] =>
  inbox.pending.filter((entry) => entry.appendedAt <= cutoff.getTime());
