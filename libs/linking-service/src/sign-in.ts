import type { DevicePrincipal, DeviceTokens } from '@tandem/auth';
import { DomainError, invalidArgument, notFound } from '@tandem/decider';
import type { CommandHandler } from '@tandem/event-sourcing';
import {
  type DeviceListCommand,
  type DeviceListDomainEvent,
  type DeviceListState,
  type LinkedDevice,
  verifyEd25519,
} from '@tandem/linking-domain';
import type { DeviceActivity } from './device-activity';

const SIGNATURE_BYTES = 64;

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
    private readonly activity: DeviceActivity,
  ) {}

  /**
   * A challenge for a linked device, named by its id or, when `deviceId` is 0, by its identity key
   * (a phone that re-registered the number learns its new id this way).
   */
  async challenge(
    accountId: string,
    deviceId: number,
    identityKey: Uint8Array,
  ): Promise<{ challenge: Buffer; expiresAt: Date; deviceId: number }> {
    const principal =
      deviceId === 0 && identityKey.length > 0
        ? { accountId, deviceId: await this.deviceIdOf(accountId, identityKey) }
        : validatePrincipal(accountId, deviceId);
    await this.linkedDevice(principal);
    return { ...(await this.tokens.issueChallenge(principal)), deviceId: principal.deviceId };
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
    if (!verifyEd25519(device.identityKey, challenge, signature)) {
      throw new DomainError('unauthenticated', 'signature does not verify with the device identity key');
    }
    const issued = await this.tokens.issueToken(principal);
    await this.activity.record(principal.accountId, principal.deviceId, new Date());
    return issued;
  }

  private async deviceIdOf(accountId: string, identityKey: Uint8Array): Promise<number> {
    if (!accountId) throw invalidArgument('account_id', 'is required');
    const { state } = await this.deviceLists.load(accountId);
    const key = Buffer.from(identityKey);
    const device = [...state.devices.values()].find((linked) => key.equals(Buffer.from(linked.identityKey)));
    if (!device) throw notFound('no linked device has this identity key');
    return device.deviceId;
  }

  private async linkedDevice(principal: DevicePrincipal): Promise<LinkedDevice> {
    const { state } = await this.deviceLists.load(principal.accountId);
    const device = state.devices.get(principal.deviceId);
    if (!device) throw notFound('no such linked device');
    return device;
  }
}
