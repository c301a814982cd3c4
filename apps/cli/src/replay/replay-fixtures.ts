import { randomUUID } from 'node:crypto';
import { EnvelopeType } from '@tandem/contracts/tandem/fanout/v1/inbox';
import { DevicePlatform } from '@tandem/contracts/tandem/linking/v1/device_list';
import { type EventCodec, toRecord } from '@tandem/event-sourcing';
import type { OutgoingRecord } from '@tandem/messaging';
import type { CommandIO } from './connection';

/**
 * Builders of the records Tandem's services publish, for the replay tools' tests: the real codecs
 * and envelope, crafted events.
 */
export interface Origin {
  readonly streamId?: string;
  readonly version?: number;
  readonly occurredAt: Date;
  readonly correlationId?: string;
  readonly eventId?: string;
}

export function eventRecord<E>(codec: EventCodec<E>, event: E, origin: Origin): OutgoingRecord {
  return toRecord(
    {
      eventId: origin.eventId ?? randomUUID(),
      type: codec.typeOf(event),
      partitionKey: codec.partitionKeyOf(event),
      occurredAt: origin.occurredAt,
      correlationId: origin.correlationId ?? randomUUID(),
      causationId: '',
      traceparent: '',
      tracestate: '',
      payload: codec.encode(event),
      streamId: origin.streamId ?? codec.partitionKeyOf(event),
      version: origin.version ?? 1,
    },
    codec.payloadType,
  );
}

export const deviceLinked = (accountId: string, deviceId: number, listVersion: number) => ({
  $case: 'deviceLinked' as const,
  value: {
    accountId,
    deviceId,
    identityKey: Buffer.alloc(32, deviceId),
    registrationId: 1000 + deviceId,
    name: `device ${deviceId}`,
    platform: DevicePlatform.DEVICE_PLATFORM_UNSPECIFIED,
    primary: deviceId === 1,
    linkedAt: new Date('2026-11-28T09:00:00Z'),
    listVersion,
    linkSessionId: '',
    listSignature: Buffer.alloc(0),
    byDeviceId: deviceId === 1 ? 0 : 1,
  },
});

export const accountRegistered = (accountId: string, phoneNumber: string) => ({
  $case: 'accountRegistered' as const,
  value: {
    accountId,
    phoneNumber,
    primaryIdentityKey: Buffer.alloc(32, 7),
    primaryRegistrationId: 1,
    primaryDeviceName: 'phone',
    registeredAt: new Date('2026-11-28T09:00:00Z'),
  },
});

export const profileUpdated = (accountId: string, displayName: string) => ({
  $case: 'profileUpdated' as const,
  value: { accountId, displayName, about: 'hi', avatarRef: '', byDeviceId: 1 },
});

export const accountBlocked = (accountId: string, blockedAccountId: string) => ({
  $case: 'accountBlocked' as const,
  value: { accountId, blockedAccountId, byDeviceId: 1 },
});

/** A message from one device to another account's devices; the ciphertext is bytes the server never reads. */
export const messageAccepted = (options: {
  readonly serverMessageId: string;
  readonly from: { readonly accountId: string; readonly deviceId: number };
  readonly to: string;
  readonly devices: readonly number[];
  readonly ciphertext: Buffer;
  readonly at: Date;
}) => ({
  $case: 'messageAccepted' as const,
  value: {
    accountId: options.to,
    serverMessageId: options.serverMessageId,
    serverTimestamp: options.at,
    senderAccountId: options.from.accountId,
    senderDeviceId: options.from.deviceId,
    clientMessageId: randomUUID(),
    recipientListVersion: options.devices.length,
    envelopes: options.devices.map((deviceId) => ({
      accountId: options.to,
      deviceId,
      registrationId: 1000 + deviceId,
      type: EnvelopeType.ENVELOPE_TYPE_CIPHERTEXT,
      content: options.ciphertext,
    })),
  },
});

export const sentMessageSynced = (options: {
  readonly serverMessageId: string;
  readonly from: { readonly accountId: string; readonly deviceId: number };
  readonly to: string;
  readonly devices: readonly number[];
  readonly ciphertext: Buffer;
  readonly at: Date;
}) => ({
  $case: 'sentMessageSynced' as const,
  value: {
    accountId: options.from.accountId,
    serverMessageId: options.serverMessageId,
    serverTimestamp: options.at,
    senderDeviceId: options.from.deviceId,
    recipientAccountId: options.to,
    envelopes: options.devices.map((deviceId) => ({
      accountId: options.from.accountId,
      deviceId,
      registrationId: 1000 + deviceId,
      type: EnvelopeType.ENVELOPE_TYPE_CIPHERTEXT,
      content: options.ciphertext,
    })),
  },
});

export const inboxAcked = (accountId: string, deviceId: number, serverMessageIds: string[], at: Date) => ({
  $case: 'inboxAcked' as const,
  value: { accountId, deviceId, serverMessageIds, ackedAt: at, throughSequence: 0 },
});

export const receiptIssued = (options: {
  readonly receiptId: string;
  readonly to: string;
  readonly from: { readonly accountId: string; readonly deviceId: number };
  readonly serverMessageIds: string[];
  readonly at: Date;
}) => ({
  $case: 'receiptIssued' as const,
  value: {
    accountId: options.to,
    serverMessageId: options.receiptId,
    receipt: {
      recipientAccountId: options.from.accountId,
      recipientDeviceId: options.from.deviceId,
      serverMessageIds: options.serverMessageIds,
      deliveredAt: options.at,
    },
    receipts: [],
    deviceIds: [],
  },
});

/** A CommandIO that keeps what a command prints. */
export function capturedIO(): CommandIO & { readonly lines: string[]; readonly errors: string[] } {
  const lines: string[] = [];
  const errors: string[] = [];
  return {
    lines,
    errors,
    out: (text) => {
      lines.push(...text.split('\n'));
    },
    err: (line) => {
      errors.push(line);
    },
    errRaw: () => undefined,
    errIsTTY: false,
  };
}
