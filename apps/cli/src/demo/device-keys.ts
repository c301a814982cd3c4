import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomInt,
  sign,
} from 'node:crypto';
import { deviceListContent } from '@tandem/linking-domain';

/** A device's Ed25519 identity key pair and registration id: what a client keeps to itself. */
export interface DeviceKeys {
  /** The raw 32-byte public key, as Tandem's RPCs carry it. */
  readonly identityKey: Buffer;
  readonly privateKey: KeyObject;
  /** 1 to 16380, as Register and BeginLink require. */
  readonly registrationId: number;
}

/** The raw 32-byte Ed25519 public key of a private key. */
export function rawPublicKey(privateKey: KeyObject): Buffer {
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' });
  return Buffer.from(jwk.x ?? '', 'base64url');
}

export function newDeviceKeys(): DeviceKeys {
  const { privateKey } = generateKeyPairSync('ed25519');
  return { identityKey: rawPublicKey(privateKey), privateKey, registrationId: randomInt(1, 16_381) };
}

export const privateKeyToPem = (privateKey: KeyObject): string =>
  privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

export function privateKeyFromPem(pem: string): KeyObject {
  const privateKey = createPrivateKey(pem);
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error('the private key is not an Ed25519 key');
  return privateKey;
}

/** The signature over a sign-in challenge: over its bytes as they are. */
export const signChallenge = (keys: DeviceKeys, challenge: Uint8Array): Buffer =>
  sign(null, challenge, keys.privateKey);

/** A companion's proof for WatchLink: its signature over "tandem-link-watch:<session id>". */
export const watchProof = (keys: DeviceKeys, sessionId: string): Buffer =>
  sign(null, Buffer.from(`tandem-link-watch:${sessionId}`, 'utf8'), keys.privateKey);

/**
 * The primary's signature over a device list: over the protobuf encoding of DeviceListContent,
 * devices in ascending id order.
 */
export function signDeviceList(
  primary: DeviceKeys,
  accountId: string,
  listVersion: number,
  devices: readonly { readonly deviceId: number; readonly identityKey: Uint8Array }[],
): Buffer {
  return sign(null, deviceListContent(accountId, listVersion, devices), primary.privateKey);
}
