import { generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import type {
  CreateSignInChallengeResponse,
  SignInResponse,
} from '@tandem/contracts/tandem/linking/v1/linking_service';
import { DeviceListContent } from '@tandem/contracts/tandem/linking/v1/device_list';
import { eventually, type GrpcTestClient } from './grpc-client';

/** A device's Ed25519 identity key pair, as a client keeps it. */
export interface TestDevice {
  readonly identityKey: Buffer;
  readonly privateKey: KeyObject;
  readonly registrationId: number;
}

export function newDevice(registrationId = 1 + Math.floor(Math.random() * 16_000)): TestDevice {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const jwk = publicKey.export({ format: 'jwk' });
  return { identityKey: Buffer.from(jwk.x as string, 'base64url'), privateKey, registrationId };
}

/** Signs a device in through the linking service, waiting until the device list has it. */
export async function signIn(
  linking: GrpcTestClient,
  device: TestDevice,
  accountId: string,
  deviceId: number,
  timeoutMs = 15_000,
): Promise<string> {
  const { challenge } = await eventually(
    () => linking.call<CreateSignInChallengeResponse>('CreateSignInChallenge', { accountId, deviceId }),
    { timeoutMs },
  );
  const signature = sign(null, challenge, device.privateKey);
  const { token } = await linking.call<SignInResponse>('SignIn', {
    accountId,
    deviceId,
    challenge,
    signature,
  });
  return token;
}

/**
 * Signs a device in by its identity key, for a device that does not know its id yet (a phone that
 * re-registered the number); waits until the device list has it.
 */
export async function signInByKey(
  linking: GrpcTestClient,
  device: TestDevice,
  accountId: string,
): Promise<{ token: string; deviceId: number }> {
  const { challenge, deviceId } = await eventually(() =>
    linking.call<CreateSignInChallengeResponse>('CreateSignInChallenge', {
      accountId,
      identityKey: device.identityKey,
    }),
  );
  const signature = sign(null, challenge, device.privateKey);
  const { token } = await linking.call<SignInResponse>('SignIn', {
    accountId,
    deviceId,
    challenge,
    signature,
  });
  return { token, deviceId };
}

/** A random valid German mobile number, so tests never collide. */
export function newPhoneNumber(): string {
  return `+49151${String(Math.floor(Math.random() * 1e8)).padStart(8, '0')}`;
}

/** The primary's signature over a device list, as a client computes it (see DeviceListContent). */
export function signDeviceList(
  primary: TestDevice,
  accountId: string,
  listVersion: number,
  devices: readonly { deviceId: number; identityKey: Uint8Array }[],
): Buffer {
  const content = DeviceListContent.encode({
    accountId,
    listVersion,
    devices: [...devices]
      .sort((a, b) => a.deviceId - b.deviceId)
      .map((device) => ({ deviceId: device.deviceId, identityKey: Buffer.from(device.identityKey) })),
  }).finish();
  return sign(null, content, primary.privateKey);
}

/** A companion's proof for WatchLink: its signature over "tandem-link-watch:<session id>". */
export function watchProof(companion: TestDevice, sessionId: string): Buffer {
  return sign(null, Buffer.from(`tandem-link-watch:${sessionId}`, 'utf8'), companion.privateKey);
}
