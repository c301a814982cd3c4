/**
 * What every service accepts as a device's identity: an Ed25519 public key of 32 bytes, a
 * registration id from 1 to 16380 (as Signal's) and a name of at most 64 characters.
 */
import { invalidArgument } from './domain-error';

export const deviceIdentityLimits = {
  identityKeyBytes: 32,
  registrationId: { min: 1, max: 16380 },
  deviceName: 64,
} as const;

export function validateIdentityKey(identityKey: Uint8Array, field = 'identity_key'): Uint8Array {
  if (identityKey.length !== deviceIdentityLimits.identityKeyBytes) {
    throw invalidArgument(
      field,
      `must be a ${deviceIdentityLimits.identityKeyBytes}-byte Ed25519 public key`,
    );
  }
  return identityKey;
}

export function validateRegistrationId(registrationId: number, field = 'registration_id'): number {
  const { min, max } = deviceIdentityLimits.registrationId;
  if (!Number.isInteger(registrationId) || registrationId < min || registrationId > max) {
    throw invalidArgument(field, `must be between ${min} and ${max}`);
  }
  return registrationId;
}

/** Checks a length in characters (emoji count as one) and refuses control characters. */
export function validateText(field: string, value: string, max: number): string {
  if ([...value].length > max) throw invalidArgument(field, `must be at most ${max} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0008\u000b-\u001f\u007f]/.test(value)) {
    throw invalidArgument(field, 'must not contain control characters');
  }
  return value;
}

/** A device name, trimmed; `fallback` when empty. */
export function validateDeviceName(value: string, fallback: string, field = 'device_name'): string {
  const name = validateText(field, value.trim(), deviceIdentityLimits.deviceName);
  return name === '' ? fallback : name;
}
