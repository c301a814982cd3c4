import type { IncomingRecord } from '@tandem/messaging';
import type { EventJson } from './event-json';
import { headerType } from './event-json';

/** What `tandem events read` keeps; every given criterion must hold. */
export interface EventFilter {
  /** The event is keyed by the account, or names it in an account id field (sender, recipient...). */
  readonly account?: string;
  /** The event names the device in a device id field; of `account` when that is given too. */
  readonly device?: number;
  /** Event types, e.g. MessageAccepted (any case: messageAccepted works too). */
  readonly types?: readonly string[];
  readonly correlation?: string;
}

export const isEmptyFilter = (filter: EventFilter): boolean =>
  filter.account === undefined &&
  filter.device === undefined &&
  (filter.types ?? []).length === 0 &&
  filter.correlation === undefined;

const typeKey = (type: string): string => type.toLowerCase();

function contains(value: Uint8Array, text: string): boolean {
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength).includes(text);
}

/**
 * Whether a record may match, from its key, headers and raw bytes alone: false only when it surely
 * does not, so most records of a long replay are passed over without being decoded (account and
 * correlation ids appear in the protobuf as they are).
 */
export function mayMatch(record: IncomingRecord, filter: EventFilter): boolean {
  const types = filter.types ?? [];
  if (types.length > 0) {
    const type = headerType(record);
    if (type !== undefined && !types.some((wanted) => typeKey(wanted) === typeKey(type))) return false;
  }
  if (
    filter.account !== undefined &&
    record.key !== filter.account &&
    !contains(record.value, filter.account)
  ) {
    return false;
  }
  if (filter.correlation !== undefined && !contains(record.value, filter.correlation)) return false;
  return true;
}

/** Whether the record needs decoding to be judged; without it `mayMatch` is the answer. */
export const needsDecoding = (filter: EventFilter): boolean =>
  filter.account !== undefined || filter.device !== undefined || filter.correlation !== undefined;

const isAccountField = (name: string): boolean => name === 'accountId' || name.endsWith('AccountId');
const isDeviceField = (name: string): boolean => name === 'deviceId' || name.endsWith('DeviceId');

/** Whether any account id field anywhere in the payload holds the account. */
function mentionsAccount(value: unknown, account: string): boolean {
  if (Array.isArray(value)) return value.some((item) => mentionsAccount(item, account));
  if (!value || typeof value !== 'object') return false;
  for (const [name, field] of Object.entries(value)) {
    if (isAccountField(name) && field === account) return true;
    if (typeof field === 'object' && mentionsAccount(field, account)) return true;
  }
  return false;
}

/**
 * Whether a device id field holds the device. With an account, the device must be that account's:
 * `senderDeviceId` belongs to `senderAccountId`, `recipientDeviceId` to `recipientAccountId`, and
 * any other device field to the `accountId` of its object or of the nearest object around it.
 */
function mentionsDevice(
  value: unknown,
  device: number,
  account: string | undefined,
  around: string,
): boolean {
  if (Array.isArray(value)) return value.some((item) => mentionsDevice(item, device, account, around));
  if (!value || typeof value !== 'object') return false;
  const object = value as Record<string, unknown>;
  const own = typeof object['accountId'] === 'string' ? (object['accountId'] as string) : around;
  for (const [name, field] of Object.entries(object)) {
    if (isDeviceField(name) && field === device) {
      if (account === undefined) return true;
      const prefix = name.slice(0, -'DeviceId'.length);
      const paired = name === 'deviceId' ? undefined : object[`${prefix}AccountId`];
      if ((typeof paired === 'string' ? paired : own) === account) return true;
    }
    if (typeof field === 'object' && mentionsDevice(field, device, account, own)) return true;
  }
  return false;
}

/** Whether a decoded event matches every criterion. */
export function matches(event: EventJson, filter: EventFilter): boolean {
  const types = filter.types ?? [];
  if (types.length > 0 && !types.some((wanted) => typeKey(wanted) === typeKey(event.type))) return false;
  if (filter.correlation !== undefined && event.correlationId !== filter.correlation) return false;
  if (filter.account !== undefined) {
    const keyed =
      event.key === filter.account ||
      event.partitionKey === filter.account ||
      event.aggregateId === filter.account;
    if (!keyed && !mentionsAccount(event.payload, filter.account)) return false;
  }
  if (filter.device !== undefined) {
    const around = event.partitionKey || event.key;
    if (!mentionsDevice(event.payload, filter.device, filter.account, around)) return false;
  }
  return true;
}
