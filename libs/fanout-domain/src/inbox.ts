/**
 * The rules of a device's inbox, as pure functions the inbox projection applies.
 * - An accepted message becomes one entry in the inbox of every device it has an envelope for,
 *   holding that device's ciphertext and the message's server id and timestamp.
 * - Every entry appended to a device's inbox gets the next sequence number: 1 for the first, then
 *   one more each time, never reused; a device resuming after sequence n misses nothing that is
 *   still in its inbox.
 * - An inbox holds at most its max depth of entries, more on the primary than on a companion (which
 *   can sync history from the primary). Appending beyond it drops the oldest entries and appends a
 *   notice entry naming them, so the device learns what it lost; earlier notices among the dropped
 *   entries are carried into the new one.
 * - An entry not acked within the retention (30 days) expires.
 * - When a device acks messages from other accounts, each of those accounts gets one delivery
 *   receipt for them. Acking messages of the device's own account (sync copies, notes to self),
 *   receipts, system entries or notices issues none.
 * - An ack names up to 100 server message ids, or a sequence number through which every entry was
 *   processed (a cumulative ack), or both.
 */
import { invalidArgument } from '@tandem/decider';
import type { MessageAccepted } from '@tandem/contracts/tandem/fanout/v1/events';
import type { InboxEntry } from '@tandem/contracts/tandem/fanout/v1/inbox';

export const INBOX_RETENTION_MS = 30 * 24 * 60 * 60 * 1000;

export const MAX_INBOX_DEPTH = { primary: 20_000, companion: 5_000 } as const;

export const MAX_ACK_IDS = 100;

export type InboxContent = NonNullable<InboxEntry['content']>;

/** An entry before it is appended: the projection gives it its sequence and time. */
export interface NewInboxEntry {
  readonly serverMessageId: string;
  readonly content: InboxContent;
}

export interface DeviceAddress {
  readonly accountId: string;
  readonly deviceId: number;
}

export const maxInboxDepth = (primary: boolean): number =>
  primary ? MAX_INBOX_DEPTH.primary : MAX_INBOX_DEPTH.companion;

/** The entry each device of an accepted message gets. */
export function messageEntries(
  accepted: MessageAccepted,
): { readonly device: DeviceAddress; readonly entry: NewInboxEntry }[] {
  return accepted.envelopes.map((envelope) => ({
    device: { accountId: envelope.accountId, deviceId: envelope.deviceId },
    entry: {
      serverMessageId: accepted.serverMessageId,
      content: {
        $case: 'message',
        value: {
          senderAccountId: accepted.senderAccountId,
          senderDeviceId: accepted.senderDeviceId,
          recipientAccountId: accepted.accountId,
          serverTimestamp: accepted.serverTimestamp,
          type: envelope.type,
          content: envelope.content,
        },
      },
    },
  }));
}

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

/**
 * How many of the oldest entries to drop from an inbox that holds `depth` entries, so that it
 * holds at most `maxDepth` once the notice is appended.
 */
export const overflow = (depth: number, maxDepth: number): number =>
  depth > maxDepth ? depth - maxDepth + 1 : 0;

/**
 * The notice entry appended after dropping `dropped` (not empty), which also counts the entries
 * that earlier notices among them named.
 */
export function entriesDroppedNotice(
  dropped: readonly InboxEntry[],
  notice: { readonly serverMessageId: string; readonly sequence: number; readonly now: Date },
): InboxEntry {
  const ranges = dropped.map((entry) =>
    entry.content?.$case === 'entriesDropped'
      ? entry.content.value
      : { firstSequence: entry.sequence, lastSequence: entry.sequence, droppedCount: 1 },
  );
  return {
    serverMessageId: notice.serverMessageId,
    sequence: notice.sequence,
    appendedAt: notice.now,
    content: {
      $case: 'entriesDropped',
      value: {
        firstSequence: Math.min(...ranges.map((range) => range.firstSequence)),
        lastSequence: Math.max(...ranges.map((range) => range.lastSequence)),
        droppedCount: ranges.reduce((sum, range) => sum + range.droppedCount, 0),
      },
    },
  };
}

/** Entries appended before this instant have expired. */
export const expiryCutoff = (now: Date, retentionMs = INBOX_RETENTION_MS): Date =>
  new Date(now.getTime() - retentionMs);

export function expiredEntries(
  entries: readonly InboxEntry[],
  now: Date,
  retentionMs = INBOX_RETENTION_MS,
): InboxEntry[] {
  const cutoff = expiryCutoff(now, retentionMs).getTime();
  return entries.filter((entry) => (entry.appendedAt?.getTime() ?? 0) <= cutoff);
}

/** A delivery receipt to issue to the devices of the account that sent the messages. */
export interface ReceiptToIssue {
  readonly senderAccountId: string;
  readonly serverMessageIds: string[];
}

/** An acked entry as the receipt rule reads it: who sent it, when it is a message; else empty. */
export interface AckedEntry {
  readonly serverMessageId: string;
  readonly senderAccountId: string;
}

/** The receipts a device's ack of `acked` issues: one per other account that sent messages in it. */
export function deliveryReceipts(device: DeviceAddress, acked: readonly AckedEntry[]): ReceiptToIssue[] {
  const bySender = new Map<string, string[]>();
  for (const entry of acked) {
    const sender = entry.senderAccountId;
    if (sender === '' || sender === device.accountId) continue;
    const ids = bySender.get(sender) ?? [];
    if (!ids.includes(entry.serverMessageId)) ids.push(entry.serverMessageId);
    bySender.set(sender, ids);
  }
  return [...bySender].map(([senderAccountId, serverMessageIds]) => ({ senderAccountId, serverMessageIds }));
}

/**
 * The ids an ack names, each once; refuses more than 100 ids or an empty one, and an ack that names
 * neither an id nor a sequence to ack through.
 */
export function validateAck(serverMessageIds: readonly string[], throughSequence = 0): string[] {
  if (!Number.isSafeInteger(throughSequence) || throughSequence < 0) {
    throw invalidArgument('through_sequence', 'must be a sequence number, 0 or more');
  }
  if (serverMessageIds.length === 0 && throughSequence === 0) {
    throw invalidArgument('server_message_ids', 'must name an entry, or through_sequence a sequence');
  }
  if (serverMessageIds.length > MAX_ACK_IDS) {
    throw invalidArgument('server_message_ids', `must name at most ${MAX_ACK_IDS} entries`);
  }
  if (serverMessageIds.some((id) => id === '')) {
    throw invalidArgument('server_message_ids', 'must not hold an empty id');
  }
  return [...new Set(serverMessageIds)];
}
