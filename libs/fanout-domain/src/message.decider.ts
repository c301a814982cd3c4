/**
 * The Message aggregate: one per sending device and client message id, so a retried Send finds the
 * stream its first attempt wrote.
 * Invariants:
 * - a message is accepted at most once; accepting it again records nothing and the first result
 *   (server message id and timestamp) stands, even if the device lists changed since;
 * - the recipient account exists and was not deleted;
 * - neither account blocks the other;
 * - the envelopes cover exactly the recipient's current devices and the sender's own devices other
 *   than the sending one (for a note to self, only those), one envelope per device, each for the
 *   registration id the device has now; otherwise nothing is accepted and the refusal names, per
 *   account, the missing, extra and stale devices;
 * - every ciphertext holds 1 byte to 96 KiB, all of them together at most 256 KiB;
 * - the recipient's envelopes are recorded in MessageAccepted, keyed by the recipient, and the
 *   sender's sync copies in SentMessageSynced, keyed by the sender, so each account's inboxes are
 *   written from its own partition.
 */
import {
  assertNever,
  type Decider,
  failedPrecondition,
  invalidArgument,
  notFound,
  validateRegistrationId,
} from '@tandem/decider';
import type { FanoutEvent } from '@tandem/contracts/tandem/fanout/v1/events';
import { EnvelopeType } from '@tandem/contracts/tandem/fanout/v1/inbox';
import { type Coverage, coverage, type ExpectedDevice, isCovered } from './coverage';

export type FanoutDomainEvent = NonNullable<FanoutEvent['event']>;

export const MESSAGE_LIMITS = {
  contentBytes: 96 * 1024,
  totalContentBytes: 256 * 1024,
} as const;

const CLIENT_MESSAGE_ID = /^[A-Za-z0-9._-]{1,64}$/;

const knownEnvelopeTypes = [EnvelopeType.ENVELOPE_TYPE_CIPHERTEXT, EnvelopeType.ENVELOPE_TYPE_PREKEY_MESSAGE];

/** An account's device list as fanout's projection of linking's events holds it. */
export interface DeviceList {
  readonly listVersion: number;
  readonly devices: readonly ExpectedDevice[];
}

/** What fanout knows of the recipient account. */
export type RecipientDeviceList =
  | { readonly status: 'unknown' }
  | { readonly status: 'deleted' }
  | ({ readonly status: 'active' } & DeviceList);

/** Whether the recipient blocks the sender's account, and whether the sender's account blocks the recipient. */
export interface Blocks {
  readonly recipientBlocksSender: boolean;
  readonly senderBlocksRecipient: boolean;
}

export interface OutgoingEnvelope {
  readonly accountId: string;
  readonly deviceId: number;
  readonly registrationId: number;
  readonly type: EnvelopeType;
  readonly content: Uint8Array;
}

export interface AcceptMessage {
  readonly type: 'AcceptMessage';
  /** The sending device, as its token says. */
  readonly sender: { readonly accountId: string; readonly deviceId: number };
  readonly recipientAccountId: string;
  readonly clientMessageId: string;
  /** The recipient's device list version the sender encrypted for. */
  readonly recipientListVersion: number;
  readonly envelopes: readonly OutgoingEnvelope[];
  /** The recipient's device list, looked up by the caller; the sender's own for a note to self. */
  readonly recipient: RecipientDeviceList;
  /** The sender's account's device list, looked up by the caller. */
  readonly senderDevices: DeviceList;
  /** Which of the two accounts blocks the other, looked up by the caller. */
  readonly blocks: Blocks;
  readonly serverMessageId: string;
  readonly now: Date;
}

export type MessageCommand = AcceptMessage;

export type MessageState =
  | { readonly status: 'none' }
  | {
      readonly status: 'accepted';
      readonly serverMessageId: string;
      readonly serverTimestamp: Date;
      readonly recipientAccountId: string;
    };

/** How one account's envelopes differ from its device list: an AccountCoverageMismatch. */
export interface AccountCoverageMismatch {
  readonly accountId: string;
  readonly listVersion: number;
  readonly missingDeviceIds: number[];
  readonly extraDeviceIds: number[];
  readonly staleDeviceIds: number[];
}

/** The details of a coverage refusal, shaped as the CoverageMismatch message in JSON. */
export type CoverageMismatchDetails = {
  readonly accounts: AccountCoverageMismatch[];
};

export const messageStreamId = (senderAccountId: string, senderDeviceId: number, clientMessageId: string) =>
  `message:${senderAccountId}:${senderDeviceId}:${clientMessageId}`;

function validate(command: AcceptMessage): void {
  if (!command.recipientAccountId) throw invalidArgument('recipient_account_id', 'is required');
  if (!CLIENT_MESSAGE_ID.test(command.clientMessageId)) {
    throw invalidArgument('client_message_id', 'must be 1 to 64 letters, digits, "-", "_" or "."');
  }
  if (command.envelopes.length === 0) throw invalidArgument('envelopes', 'must hold one envelope per device');
  const addressed = new Set<string>();
  let totalBytes = 0;
  command.envelopes.forEach((envelope, index) => {
    const field = `envelopes[${index}]`;
    if (
      envelope.accountId !== command.recipientAccountId &&
      envelope.accountId !== command.sender.accountId
    ) {
      throw invalidArgument(`${field}.account_id`, "must be the recipient's or the sender's account");
    }
    if (!Number.isInteger(envelope.deviceId) || envelope.deviceId < 1) {
      throw invalidArgument(`${field}.device_id`, 'must be a device id, from 1');
    }
    validateRegistrationId(envelope.registrationId, `${field}.registration_id`);
    if (!knownEnvelopeTypes.includes(envelope.type)) {
      throw invalidArgument(`${field}.type`, 'must be CIPHERTEXT or PREKEY_MESSAGE');
    }
    const bytes = envelope.content.length;
    if (bytes === 0) throw invalidArgument(`${field}.content`, 'must not be empty');
    if (bytes > MESSAGE_LIMITS.contentBytes) {
      throw invalidArgument(
        `${field}.content`,
        `must be at most ${MESSAGE_LIMITS.contentBytes} bytes (96 KiB), is ${bytes}`,
      );
    }
    const device = `${envelope.accountId}/${envelope.deviceId}`;
    if (addressed.has(device)) {
      throw invalidArgument(field, `is a second envelope for device ${device}; send one per device`);
    }
    addressed.add(device);
    totalBytes += bytes;
  });
  if (totalBytes > MESSAGE_LIMITS.totalContentBytes) {
    throw invalidArgument(
      'envelopes',
      `ciphertexts must be at most ${MESSAGE_LIMITS.totalContentBytes} bytes (256 KiB) together, are ${totalBytes}`,
    );
  }
}

/** The devices each account must be reached on: the recipient's, then the sender's other ones. */
function expectedAccounts(
  command: AcceptMessage,
  recipient: DeviceList,
): { readonly accountId: string; readonly list: DeviceList }[] {
  const { sender } = command;
  const otherDevicesOf = (list: DeviceList): DeviceList => ({
    listVersion: list.listVersion,
    devices: list.devices.filter((device) => device.deviceId !== sender.deviceId),
  });
  if (command.recipientAccountId === sender.accountId) {
    return [{ accountId: sender.accountId, list: otherDevicesOf(recipient) }];
  }
  return [
    { accountId: command.recipientAccountId, list: recipient },
    { accountId: sender.accountId, list: otherDevicesOf(command.senderDevices) },
  ];
}

function mismatchOf(accountId: string, listVersion: number, result: Coverage): AccountCoverageMismatch {
  return {
    accountId,
    listVersion,
    missingDeviceIds: result.missing,
    extraDeviceIds: result.extra,
    staleDeviceIds: result.stale,
  };
}

function describeMismatch(mismatch: AccountCoverageMismatch): string {
  const lists: [string, number[]][] = [
    ['missing', mismatch.missingDeviceIds],
    ['extra', mismatch.extraDeviceIds],
    ['stale', mismatch.staleDeviceIds],
  ];
  const differences = lists
    .filter(([, ids]) => ids.length > 0)
    .map(([label, ids]) => `${label} ${ids.join(', ')}`)
    .join('; ');
  return `account ${mismatch.accountId} at list version ${mismatch.listVersion}: ${differences}`;
}

function coverageRefusal(command: AcceptMessage, recipient: DeviceList, accounts: AccountCoverageMismatch[]) {
  const what = accounts.map(describeMismatch).join(' | ');
  const lagging = command.recipientListVersion > recipient.listVersion;
  return failedPrecondition(
    lagging
      ? `the envelopes do not cover the devices the server knows (${what}); it has not seen device list version ${command.recipientListVersion} of the recipient yet: retry shortly`
      : `the envelopes do not cover exactly the current devices (${what}): fetch the device lists and encrypt again`,
    { accounts } satisfies CoverageMismatchDetails,
  );
}

/** The envelopes of one account, ascending by device id, as events carry them. */
function envelopesOf(command: AcceptMessage, accountId: string) {
  return command.envelopes
    .filter((envelope) => envelope.accountId === accountId)
    .sort((a, b) => a.deviceId - b.deviceId)
    .map((envelope) => ({
      accountId: envelope.accountId,
      deviceId: envelope.deviceId,
      registrationId: envelope.registrationId,
      type: envelope.type,
      content: Buffer.from(envelope.content),
    }));
}

function decide(command: MessageCommand, state: MessageState): FanoutDomainEvent[] {
  switch (command.type) {
    case 'AcceptMessage': {
      if (state.status === 'accepted') return [];
      validate(command);
      const { recipient } = command;
      if (recipient.status === 'unknown') {
        throw notFound(`no account ${command.recipientAccountId}`);
      }
      if (recipient.status === 'deleted') {
        throw failedPrecondition(`the account ${command.recipientAccountId} was deleted`);
      }
      if (command.blocks.recipientBlocksSender) {
        throw failedPrecondition(
          `the account ${command.recipientAccountId} blocks messages from this account`,
        );
      }
      if (command.blocks.senderBlocksRecipient) {
        throw failedPrecondition(`this account blocks ${command.recipientAccountId}; unblock it to send`);
      }
      const mismatches = expectedAccounts(command, recipient).flatMap(({ accountId, list }) => {
        const result = coverage(
          list.devices,
          command.envelopes.filter((envelope) => envelope.accountId === accountId),
        );
        return isCovered(result) ? [] : [mismatchOf(accountId, list.listVersion, result)];
      });
      if (mismatches.length > 0) throw coverageRefusal(command, recipient, mismatches);
      const accepted: FanoutDomainEvent = {
        $case: 'messageAccepted',
        value: {
          accountId: command.recipientAccountId,
          serverMessageId: command.serverMessageId,
          serverTimestamp: command.now,
          senderAccountId: command.sender.accountId,
          senderDeviceId: command.sender.deviceId,
          clientMessageId: command.clientMessageId,
          recipientListVersion: recipient.listVersion,
          envelopes: envelopesOf(command, command.recipientAccountId),
        },
      };
      const syncCopies = envelopesOf(command, command.sender.accountId);
      if (command.recipientAccountId === command.sender.accountId || syncCopies.length === 0)
        return [accepted];
      return [
        accepted,
        {
          $case: 'sentMessageSynced',
          value: {
            accountId: command.sender.accountId,
            serverMessageId: command.serverMessageId,
            serverTimestamp: command.now,
            senderDeviceId: command.sender.deviceId,
            recipientAccountId: command.recipientAccountId,
            envelopes: syncCopies,
          },
        },
      ];
    }
    default:
      return assertNever(command.type);
  }
}

function evolve(state: MessageState, event: FanoutDomainEvent): MessageState {
  switch (event.$case) {
    case 'messageAccepted':
      return {
        status: 'accepted',
        serverMessageId: event.value.serverMessageId,
        serverTimestamp: event.value.serverTimestamp ?? new Date(0),
        recipientAccountId: event.value.accountId,
      };
    case 'sentMessageSynced':
    case 'inboxAcked':
    case 'inboxExpired':
    case 'receiptIssued':
    case 'systemEntryAccepted':
    case 'inboxClosed':
    case 'deviceConnected':
    case 'deviceDisconnected':
    case 'instanceAlive':
      return state;
    default:
      return assertNever(event);
  }
}

export const messageDecider: Decider<MessageCommand, FanoutDomainEvent, MessageState> = {
  decide,
  evolve,
  initialState: () => ({ status: 'none' }),
};
