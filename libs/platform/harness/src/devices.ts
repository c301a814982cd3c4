import { generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import type {
  CreateSignInChallengeResponse,
  SignInResponse,
} from '@tandem/contracts/grpc/tandem/linking/v1/linking_service';
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
): Promise<string> {
  const { challenge } = await eventually(() =>
    linking.call<CreateSignInChallengeResponse>('CreateSignInChallenge', { accountId, deviceId }),
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

/** A random valid German mobile number, so tests never collide. */
export function newPhoneNumber(): string {
  return `+49151${String(Math.floor(Math.random() * 1e8)).padStart(8, '0')}`;
}
