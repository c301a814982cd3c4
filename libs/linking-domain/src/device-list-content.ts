/**
 * The bytes a primary signs for its device list, the list's short hash, and the signature check.
 * Pure computation (hashing and Ed25519 verification are no I/O).
 */
import { createHash, createPublicKey, verify } from 'node:crypto';
import { DeviceListContent } from '@tandem/contracts/tandem/linking/v1/device_list';

export interface ListedDevice {
  readonly deviceId: number;
  readonly identityKey: Uint8Array;
}

/** DeviceListContent's protobuf encoding, devices ascending by id. */
export function deviceListContent(
  accountId: string,
  listVersion: number,
  devices: readonly ListedDevice[],
): Uint8Array {
  return DeviceListContent.encode({
    accountId,
    listVersion,
    devices: [...devices]
      .sort((a, b) => a.deviceId - b.deviceId)
      .map((device) => ({ deviceId: device.deviceId, identityKey: Buffer.from(device.identityKey) })),
  }).finish();
}

/** The first 8 bytes of SHA-256 over the content, as 16 hex digits. */
export function deviceListHash(content: Uint8Array): string {
  return createHash('sha256').update(content).digest().subarray(0, 8).toString('hex');
}

/** Whether `signature` is the Ed25519 signature of `content` by the raw 32-byte `publicKey`. */
export function verifyEd25519(publicKey: Uint8Array, content: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  const key = createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKey).toString('base64url') },
    format: 'jwk',
  });
  return verify(null, content, key, signature);
}
