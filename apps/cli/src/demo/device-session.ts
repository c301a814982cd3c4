import { status } from '@grpc/grpc-js';
import type { DeviceKeys } from './device-keys';
import { signChallenge } from './device-keys';
import { retrying, type TandemClient } from './tandem-client';

/** Sign in again when the token has less than this left. */
const REFRESH_BEFORE_MS = 60_000;

/** Who a device is to Tandem: its account, its id and the keys that prove it. */
export interface DeviceIdentity {
  readonly accountId: string;
  readonly deviceId: number;
  readonly keys: DeviceKeys;
}

/**
 * A signed-in device: it proves it holds its identity key by signing a challenge and keeps the
 * short-lived token it gets, signing in again before the token expires.
 */
export class DeviceSession {
  private current: { token: string; expiresAtMs: number } | undefined;

  private constructor(
    readonly client: TandemClient,
    readonly device: DeviceIdentity,
  ) {}

  /**
   * Signs the device in. `waitMs` is how long to wait for a device that Tandem does not know yet
   * (one that registered or was linked a moment ago).
   */
  static async signIn(client: TandemClient, device: DeviceIdentity, waitMs = 5_000): Promise<DeviceSession> {
    const session = new DeviceSession(client, device);
    await session.refresh(waitMs);
    return session;
  }

  get accountId(): string {
    return this.device.accountId;
  }

  get deviceId(): number {
    return this.device.deviceId;
  }

  async token(): Promise<string> {
    if (!this.current || this.current.expiresAtMs - Date.now() < REFRESH_BEFORE_MS) await this.refresh(0);
    return this.current!.token;
  }

  private async refresh(waitMs: number): Promise<void> {
    const { accountId, deviceId, keys } = this.device;
    const { challenge } = await retrying(
      () =>
        this.client.linking.call('createSignInChallenge', {
          accountId,
          deviceId,
          identityKey: Buffer.alloc(0),
        }),
      { retryOn: [status.NOT_FOUND], timeoutMs: waitMs },
    );
    const { token, expiresAt } = await this.client.linking.call('signIn', {
      accountId,
      deviceId,
      challenge,
      signature: signChallenge(keys, challenge),
    });
    const expiresAtMs = expiresAt ? expiresAt.getTime() : Date.now() + REFRESH_BEFORE_MS * 2;
    this.current = { token, expiresAtMs };
  }
}
