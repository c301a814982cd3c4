import { signDeviceList } from './device-keys';
import { DeviceSession } from './device-session';
import { shareHistory } from './history';
import { parseLinkPayload } from './link-payload';
import type { ProfileStore } from './profiles';
import { TandemClient } from './tandem-client';

export interface ApproveOptions {
  readonly name: string;
  /** The companion's QR payload, `tandem://link?v=1&s=...&k=...`. */
  readonly payload: string;
  readonly server?: string;
  /** Whether to hand the companion the messages this device received (default: yes). */
  readonly history?: boolean;
}

/**
 * The primary approves a scanned QR code: it signs the device list as it will be with the
 * companion added under the next device id, at the next list version, and sends ApproveLink. Then
 * it hands the companion the messages it received, as a history bundle (see `shareHistory`).
 */
export async function approve(store: ProfileStore, options: ApproveOptions): Promise<void> {
  const { sessionId, identityKey } = parseLinkPayload(options.payload);
  const profile = await store.load(options.name);
  if (!profile.primary) {
    throw new Error(`${profile.name} is a companion device: only the account's primary approves links`);
  }
  const client = new TandemClient(options.server ?? profile.server);
  try {
    const session = await DeviceSession.signIn(client, profile);
    const { accountId } = profile;
    const list = await client.linking.call('listDevices', { accountId }, await session.token());
    const listVersion = list.listVersion + 1;
    const approved = await client.linking.call(
      'approveLink',
      {
        accountId,
        sessionId,
        identityKey,
        listVersion,
        listSignature: signDeviceList(profile.keys, accountId, listVersion, [
          ...list.devices,
          { deviceId: list.nextDeviceId, identityKey },
        ]),
      },
      await session.token(),
    );
    console.log(
      `Approved: the companion is device ${approved.deviceId} of account ${accountId} (device list version ${approved.listVersion}).`,
    );
    if (options.history !== false) {
      await shareHistory(session, profile, approved.deviceId, await store.loadHistory(profile.name));
    }
  } finally {
    client.close();
  }
}
