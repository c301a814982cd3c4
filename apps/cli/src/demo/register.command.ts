import { status } from '@grpc/grpc-js';
import { newDeviceKeys } from './device-keys';
import { DeviceSession } from './device-session';
import type { ProfileStore } from './profiles';
import { DEFAULT_SERVER, hasStatus, TandemClient } from './tandem-client';

export interface RegisterOptions {
  readonly name: string;
  readonly phone: string;
  readonly deviceName?: string;
  readonly server?: string;
}

/**
 * Registers a new account with this machine as its primary phone: a fresh Ed25519 identity key,
 * Register, a first sign-in, and the profile saved.
 */
export async function register(store: ProfileStore, options: RegisterOptions): Promise<void> {
  await store.ensureFree(options.name);
  const server = options.server ?? DEFAULT_SERVER;
  const keys = newDeviceKeys();
  const client = new TandemClient(server);
  try {
    const { accountId, deviceId } = await client.accounts
      .call('register', {
        phoneNumber: options.phone,
        identityKey: keys.identityKey,
        registrationId: keys.registrationId,
        deviceName: options.deviceName ?? options.name,
        reregister: false,
      })
      .catch((error: unknown) => {
        if (hasStatus(error, status.ALREADY_EXISTS)) {
          throw new Error(`${options.phone} is registered already on ${server}: register another number`);
        }
        throw error;
      });
    await DeviceSession.signIn(client, { accountId, deviceId, keys }, 15_000);
    const profile = {
      name: options.name,
      server,
      accountId,
      deviceId,
      primary: true,
      phoneNumber: options.phone,
      keys,
      lastSequence: 0,
    };
    await store.save(profile);
    console.log(
      `Registered ${options.phone} as ${options.name}: account ${accountId}, device ${deviceId} (primary).`,
    );
    console.log(`Profile saved to ${store.pathOf(options.name)}.`);
  } finally {
    client.close();
  }
}
