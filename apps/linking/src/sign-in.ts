import { createPublicKey, verify } from 'node:crypto';
import type { DevicePrincipal, DeviceTokens } from '@tandem/auth';
import { DomainError, invalidArgument, notFound } from '@tandem/decider';
import type { CommandHandler } from '@tandem/event-sourcing';
import type {
  DeviceListCommand,
  DeviceListDomainEvent,
  DeviceListState,
  LinkedDevice,
} from '@tandem/linking-domain';

const SIGNATURE_BYTES = 64;

/** An Ed25519 public key from its 32 raw bytes. */
function ed25519PublicKey(raw: Uint8Array) {
  return createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw).toString('base64url') },
    format: 'jwk',
  });
}

export function validatePrincipal(accountId: string, deviceId: number): DevicePrincipal {
  if (!accountId) throw invalidArgument('account_id', 'is required');
  if (!Number.isInteger(deviceId) || deviceId < 1)
    throw invalidArgument('device_id', 'must be a positive device id');
  return { accountId, deviceId };
}

/**
 * Device sign-in: a challenge for a linked device, then a token for a signature over it made with
 * the device's identity key, checked against the key in the account's device list.
 */
export class SignIn {
  constructor(
    private readonly deviceLists: CommandHandler<DeviceListCommand, DeviceListDomainEvent, DeviceListState>,
    private readonly tokens: DeviceTokens,
  ) {}

  async challenge(principal: DevicePrincipal): Promise<{ challenge: Buffer; expiresAt: Date }> {
    await this.linkedDevice(principal);
    return this.tokens.issueChallenge(principal);
  }

  async signIn(
    principal: DevicePrincipal,
    challenge: Uint8Array,
    signature: Uint8Array,
  ): Promise<{ token: string; expiresAt: Date }> {
    if (challenge.length === 0 || challenge.length > 2048) {
      throw invalidArgument('challenge', 'must be the challenge from CreateSignInChallenge');
    }
    if (signature.length !== SIGNATURE_BYTES) {
      throw invalidArgument('signature', `must be a ${SIGNATURE_BYTES}-byte Ed25519 signature`);
    }
    await this.tokens.verifyChallenge(challenge, principal);
    const device = await this.linkedDevice(principal);
    if (!verify(null, challenge, ed25519PublicKey(device.identityKey), signature)) {
      throw new DomainError('unauthenticated', 'signature does not verify with the device identity key');
    }
    return this.tokens.issueToken(principal);
  }

  private async linkedDevice(principal: DevicePrincipal): Promise<LinkedDevice> {
    const { state } = await this.deviceLists.load(principal.accountId);
    const device = state.devices.get(principal.deviceId);
    if (!device) throw notFound('no such linked device');
    return device;
  }
}
