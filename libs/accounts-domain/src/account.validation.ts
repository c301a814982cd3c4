/**
 * Input rules for accounts, shared by the deciders and by the register flow, which checks a
 * registration before it claims the phone number so a refused request records nothing.
 */
import { invalidArgument } from '@tandem/decider';
import { BackupFrequency, LastSeenVisibility } from '@tandem/contracts/events/tandem/accounts/v1/settings';
import { parsePhoneNumberFromString } from 'libphonenumber-js/max';

export const limits = {
  displayName: 25,
  about: 139,
  avatarRef: 256,
  deviceName: 64,
  identityKeyBytes: 32,
  registrationId: { min: 1, max: 16380 },
} as const;

/** Returns the number in E.164 form when it is a valid phone number written in E.164. */
export function validatePhoneNumber(phoneNumber: string): string {
  const field = 'phone_number';
  if (!/^\+[1-9]\d{6,14}$/.test(phoneNumber)) {
    throw invalidArgument(field, 'must be in E.164 form: "+" then 7 to 15 digits, e.g. +4915112345678');
  }
  const parsed = parsePhoneNumberFromString(phoneNumber);
  if (!parsed || !parsed.isValid())
    throw invalidArgument(field, `${phoneNumber} is not a valid phone number`);
  return parsed.number;
}

export function validateIdentityKey(identityKey: Uint8Array, field = 'identity_key'): Uint8Array {
  if (identityKey.length !== limits.identityKeyBytes) {
    throw invalidArgument(field, `must be a ${limits.identityKeyBytes}-byte Ed25519 public key`);
  }
  return identityKey;
}

export function validateRegistrationId(registrationId: number, field = 'registration_id'): number {
  const { min, max } = limits.registrationId;
  if (!Number.isInteger(registrationId) || registrationId < min || registrationId > max) {
    throw invalidArgument(field, `must be between ${min} and ${max}`);
  }
  return registrationId;
}

function validateText(field: string, value: string, max: number): string {
  if ([...value].length > max) throw invalidArgument(field, `must be at most ${max} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0008\u000b-\u001f\u007f]/.test(value)) {
    throw invalidArgument(field, 'must not contain control characters');
  }
  return value;
}

export const validateDisplayName = (value: string): string =>
  validateText('display_name', value, limits.displayName);

export const validateAbout = (value: string): string => validateText('about', value, limits.about);

export const validateAvatarRef = (value: string): string =>
  validateText('avatar_ref', value, limits.avatarRef);

export function validateDeviceName(value: string): string {
  const name = validateText('device_name', value.trim(), limits.deviceName);
  return name === '' ? 'Primary' : name;
}

function validateEnum<T extends number>(field: string, value: T, known: readonly T[]): T {
  if (!known.includes(value)) throw invalidArgument(field, `unknown value ${value}`);
  return value;
}

export const validateLastSeenVisibility = (value: LastSeenVisibility): LastSeenVisibility =>
  validateEnum('last_seen_visibility', value, [
    LastSeenVisibility.LAST_SEEN_VISIBILITY_EVERYONE,
    LastSeenVisibility.LAST_SEEN_VISIBILITY_CONTACTS,
    LastSeenVisibility.LAST_SEEN_VISIBILITY_NOBODY,
  ]);

export const validateBackupFrequency = (value: BackupFrequency): BackupFrequency =>
  validateEnum('backup_frequency', value, [
    BackupFrequency.BACKUP_FREQUENCY_OFF,
    BackupFrequency.BACKUP_FREQUENCY_DAILY,
    BackupFrequency.BACKUP_FREQUENCY_WEEKLY,
    BackupFrequency.BACKUP_FREQUENCY_MONTHLY,
  ]);

export interface Registration {
  readonly phoneNumber: string;
  readonly identityKey: Uint8Array;
  readonly registrationId: number;
  readonly deviceName: string;
}

/** Checks every field of a registration and returns it normalized. */
export function validateRegistration(registration: Registration): Registration {
  return {
    phoneNumber: validatePhoneNumber(registration.phoneNumber),
    identityKey: validateIdentityKey(registration.identityKey),
    registrationId: validateRegistrationId(registration.registrationId),
    deviceName: validateDeviceName(registration.deviceName),
  };
}
