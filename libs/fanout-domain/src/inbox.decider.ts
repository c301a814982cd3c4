/**
 * The changes of inboxes that are not messages: acks with their delivery receipts, system entries
 * carried from other services' events, and expiry. Each is one stream recorded once: an ack under
 * an id of its own, a system entry under its source event's id (so a redelivered source event
 * records nothing), an expiry under the device and the last sequence it expires.
 * Invariants:
 * - an ack records which of the named entries the inbox held, and one delivery receipt for each
 *   other account that sent messages among them; an ack of nothing held records nothing;
 * - a system entry is accepted once per source event, for every device of the account; when the
 *   source event removed a device, its inbox is closed first;
 * - an expiry is recorded once, for entries older than the retention.
 */
import { assertNever, type Decider, invalidArgument } from '@tandem/decider';
import type { SystemEntry } from '@tandem/contracts/tandem/fanout/v1/inbox';
import { deliveryReceipts, type DeviceAddress } from './inbox';
import type { PendingEntry } from './inbox-head';
import type { FanoutDomainEvent } from './message.decider';

export interface AckEntries {
  readonly type: 'AckEntries';
  readonly device: DeviceAddress;
  /** The entries of the device's inbox the ack named. */
  readonly acked: readonly PendingEntry[];
  /** An id for each receipt this ack may issue, in order. */
  readonly receiptIds: readonly string[];
  readonly now: Date;
}

export interface AcceptSystemEntry {
  readonly type: 'AcceptSystemEntry';
  readonly accountId: string;
  readonly entry: SystemEntry;
  /** A device the source event removed from the account, whose inbox closes; 0 for none. */
  readonly closesDeviceId: number;
  /** The account's devices now (after the source event), which get the entry. */
  readonly deviceIds: readonly number[];
}

export interface ExpireEntries {
  readonly type: 'ExpireEntries';
  readonly device: DeviceAddress;
  readonly expired: readonly PendingEntry[];
  readonly now: Date;
}

export type InboxCommand = AckEntries | AcceptSystemEntry | ExpireEntries;

export interface InboxState {
  readonly recorded: boolean;
}

/** The stream of a system entry: its source event's id. */
export const systemEntryStreamId = (sourceEventId: string): string => `system-entry:${sourceEventId}`;

/** The stream of an expiry: the device and the last sequence it expires. */
export const expiryStreamId = (device: DeviceAddress, lastSequence: number): string =>
  `inbox-expiry:${device.accountId}:${device.deviceId}:${lastSequence}`;

function decide(command: InboxCommand, state: InboxState): FanoutDomainEvent[] {
  if (state.recorded) return [];
  switch (command.type) {
    case 'AckEntries': {
      if (command.acked.length === 0) return [];
      const receipts = deliveryReceipts(command.device, command.acked);
      if (receipts.length > command.receiptIds.length) {
        throw invalidArgument('receipt_ids', `needs ${receipts.length} receipt ids`);
      }
      return [
        {
          $case: 'inboxAcked',
          value: {
            accountId: command.device.accountId,
            deviceId: command.device.deviceId,
            serverMessageIds: command.acked.map((entry) => entry.serverMessageId),
            ackedAt: command.now,
            throughSequence: 0,
          },
        },
        ...receipts.map((receipt, index): FanoutDomainEvent => ({
          $case: 'receiptIssued',
          value: {
            accountId: receipt.senderAccountId,
            serverMessageId: command.receiptIds[index] as string,
            receipt: {
              recipientAccountId: command.device.accountId,
              recipientDeviceId: command.device.deviceId,
              serverMessageIds: receipt.serverMessageIds,
              deliveredAt: command.now,
            },
            receipts: [],
            deviceIds: [],
          },
        })),
      ];
    }
    case 'AcceptSystemEntry': {
      const accepted: FanoutDomainEvent = {
        $case: 'systemEntryAccepted',
        value: {
          accountId: command.accountId,
          serverMessageId: command.entry.sourceEventId,
          entry: command.entry,
          deviceIds: [...command.deviceIds],
        },
      };
      if (command.closesDeviceId === 0) return [accepted];
      return [
        { $case: 'inboxClosed', value: { accountId: command.accountId, deviceId: command.closesDeviceId } },
        accepted,
      ];
    }
    case 'ExpireEntries':
      if (command.expired.length === 0) return [];
      return [
        {
          $case: 'inboxExpired',
          value: {
            accountId: command.device.accountId,
            deviceId: command.device.deviceId,
            serverMessageIds: command.expired.map((entry) => entry.serverMessageId),
            expiredAt: command.now,
          },
        },
      ];
    default:
      return assertNever(command);
  }
}

export const inboxDecider: Decider<InboxCommand, FanoutDomainEvent, InboxState> = {
  decide,
  evolve: () => ({ recorded: true }),
  initialState: () => ({ recorded: false }),
};
