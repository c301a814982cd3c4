/**
 * Input rules for accounts, shared by the deciders and by the register flow, which checks a
 * registration before it claims the phone number so a refused request records nothing.
 */
import {
  deviceIdentityLimits,
  invalidArgument,
  validateDeviceName as validateName,
  validateIdentityKey,
  validateRegistrationId,
  validateText,
} from '@tandem/decider';
import { BackupFrequency, LastSeenVisibility } from '@tandem/contracts/tandem/accounts/v1/settings';
import { parsePhoneNumberFromString } from 'libphonenumber-js/max';

export const limits = {
  displayName: 25,
  about: 139,
  avatarRef: 256,
  ...deviceIdentityLimits,
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

export const validateDisplayName = (value: string): string =>
  validateText('display_name', value, limits.displayName);

export const validateAbout = (value: string): string => validateText('about', value, limits.about);

export const validateAvatarRef = (value: string): string =>
  validateText('avatar_ref', value, limits.avatarRef);

export const validateDeviceName = (value: string): string => validateName(value, 'Primary');

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
