import type { Metadata } from '@grpc/grpc-js';
import { status } from '@grpc/grpc-js';
import { DomainError, permissionDenied } from '@tandem/decider';
import { GrpcStatusError } from '@tandem/grpc';
import type { DeviceLookup } from './device-lookup';
import type { DevicePrincipal, DeviceTokens } from './device-tokens';

/** A signed-in device that is linked right now. */
export interface AuthenticatedDevice extends DevicePrincipal {
  readonly primary: boolean;
}

/**
 * Turns `authorization: Bearer <token>` metadata into the device it proves, checking the token's
 * signature and expiry and that the device is still linked as far as this service knows (its
 * device directory, behind `DeviceLookup`). A device the service has not heard of yet (its
 * DeviceLinked is still on the way) gets UNAVAILABLE, which clients retry; an unlinked device
 * gets UNAUTHENTICATED.
 */
export class DeviceAuthenticator {
  constructor(
    private readonly tokens: DeviceTokens,
    private readonly devices: DeviceLookup,
  ) {}

  async authenticate(metadata: Metadata | undefined): Promise<AuthenticatedDevice> {
    const header = metadata?.get('authorization')[0];
    const match = typeof header === 'string' ? /^Bearer\s+(\S+)$/i.exec(header) : null;
    if (!match) throw new DomainError('unauthenticated', 'missing "authorization: Bearer <token>" metadata');
    const principal = await this.tokens.verifyToken(match[1] as string);
    const device = await this.devices.find(principal.accountId, principal.deviceId);
    if (!device) {
      throw new GrpcStatusError(
        status.UNAVAILABLE,
        'this service has not learned of the device yet; retry shortly',
      );
    }
    if (!device.linked) throw new DomainError('unauthenticated', 'device is not linked');
    return { ...principal, primary: device.primary };
  }
}

/** Refuses a request about another account's data. */
export function requireOwnAccount(device: AuthenticatedDevice, accountId: string): void {
  if (device.accountId !== accountId) throw permissionDenied('this device may only act on its own account');
}
