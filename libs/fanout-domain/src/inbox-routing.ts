/**
 * Which device inboxes a fan-out event changes, and how: the routing half of the inbox fold
 * (inbox-sequencing.ts applies the routes and gives the sequence numbers). It reads the event
 * alone, plus, for records from before the events named their devices, the devices whose inboxes
 * the account holds; never a device list, so folding the log again gives the same inboxes.
 * - MessageAccepted and SentMessageSynced: one entry per envelope, to the envelope's device.
 * - ReceiptIssued and SystemEntryAccepted: one entry to each device the event names (the
 *   account's devices when it was decided). A record from before it named them (neither
 *   device_ids nor primary_device_id set) goes to every device whose inbox the account holds.
 * - An entry is held to the primary's depth on the device the event names the primary, to a
 *   companion's on the others; a record from before primary_device_id holds every device to the
 *   primary's depth, the larger one, so folding an old log again drops nothing it kept.
 * - InboxAcked and InboxExpired remove entries from one device's inbox; InboxClosed deletes it,
 *   and the device gets no more entries.
 * - Connections and instance liveness are presence's business: they route nowhere.
 */
import { assertNever } from '@tandem/decider';
import { maxInboxDepth, messageEntries, type NewInboxEntry } from './inbox';
import type { FanoutDomainEvent } from './message.decider';

/** What one event does to one device's inbox. */
export type InboxRoute =
  | {
      readonly kind: 'append';
      readonly deviceId: number;
      readonly entry: NewInboxEntry;
      /** How many entries the inbox holds before its oldest are dropped. */
      readonly maxDepth: number;
    }
  | {
      readonly kind: 'remove';
      readonly deviceId: number;
      readonly serverMessageIds: readonly string[];
      /** Every entry through this sequence leaves too; 0 for none. */
      readonly throughSequence: number;
      /** Whether the device acked them (processed them: their senders get receipts), else they expired. */
      readonly acked: boolean;
      /** When the device acked them, when the event says; else when it was recorded. */
      readonly ackedAt?: Date | undefined;
    }
  | { readonly kind: 'close'; readonly deviceId: number };

/** The devices an event names, or those whose inboxes the account holds for a record that names none. */
interface Targets {
  readonly deviceIds: readonly number[];
  readonly primaryDeviceId?: number | undefined;
}

/** The depth of a device's inbox under an event that names `primaryDeviceId` (undefined: an old record). */
const depthFor = (deviceId: number, primaryDeviceId: number | undefined): number =>
  maxInboxDepth(primaryDeviceId === undefined || deviceId === primaryDeviceId);

const appendTo = (
  deviceId: number,
  entry: NewInboxEntry,
  primaryDeviceId: number | undefined,
): InboxRoute => ({
  kind: 'append',
  deviceId,
  entry,
  maxDepth: depthFor(deviceId, primaryDeviceId),
});

/** One entry to every device the event names; for a record that names none, to every inbox held. */
function toEveryDevice(entry: NewInboxEntry, targets: Targets, held: readonly number[]): InboxRoute[] {
  const named = targets.primaryDeviceId !== undefined || targets.deviceIds.length > 0;
  return (named ? targets.deviceIds : held).map((deviceId) =>
    appendTo(deviceId, entry, targets.primaryDeviceId),
  );
}

/**
 * The routes of `event`, in the order they apply. `heldInboxes` are the devices whose inboxes the
 * account holds now (ascending), which only records from before the events named their devices
 * read.
 */
export function inboxRoutes(event: FanoutDomainEvent, heldInboxes: readonly number[]): InboxRoute[] {
  switch (event.$case) {
    case 'messageAccepted':
      return messageEntries(event.value).map(({ device, entry }) =>
        appendTo(device.deviceId, entry, event.value.primaryDeviceId),
      );
    case 'sentMessageSynced': {
      const synced = event.value;
      return synced.envelopes.map((envelope) =>
        appendTo(
          envelope.deviceId,
          {
            serverMessageId: synced.serverMessageId,
            content: {
              $case: 'message',
              value: {
                senderAccountId: synced.accountId,
                senderDeviceId: synced.senderDeviceId,
                recipientAccountId: synced.recipientAccountId,
                serverTimestamp: synced.serverTimestamp,
                type: envelope.type,
                content: envelope.content,
              },
            },
          },
          synced.primaryDeviceId,
        ),
      );
    }
    case 'receiptIssued': {
      const { receipt, receipts, serverMessageId } = event.value;
      if (receipts.length > 0)
        return toEveryDevice(
          { serverMessageId, content: { $case: 'receipts', value: { receipts } } },
          event.value,
          heldInboxes,
        );
      if (receipt)
        return toEveryDevice(
          { serverMessageId, content: { $case: 'receipt', value: receipt } },
          event.value,
          heldInboxes,
        );
      return [];
    }
    case 'systemEntryAccepted':
      if (!event.value.entry) return [];
      return toEveryDevice(
        {
          serverMessageId: event.value.serverMessageId,
          content: { $case: 'system', value: event.value.entry },
        },
        event.value,
        heldInboxes,
      );
    case 'inboxAcked': {
      const { deviceId, serverMessageIds, throughSequence, ackedAt } = event.value;
      return [{ kind: 'remove', deviceId, serverMessageIds, throughSequence, acked: true, ackedAt }];
    }
    case 'inboxExpired':
      return [
        {
          kind: 'remove',
          deviceId: event.value.deviceId,
          serverMessageIds: event.value.serverMessageIds,
          throughSequence: 0,
          acked: false,
        },
      ];
    case 'inboxClosed':
      return [{ kind: 'close', deviceId: event.value.deviceId }];
    case 'deviceConnected':
    case 'deviceDisconnected':
    case 'instanceAlive':
      return [];
    default:
      return assertNever(event);
  }
}
