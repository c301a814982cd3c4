import { DevicePlatform } from '@tandem/contracts/tandem/linking/v1/device_list';
import { DeviceSession } from './device-session';
import type { ProfileStore } from './profiles';
import { TandemClient } from './tandem-client';

export interface DevicesOptions {
  readonly name: string;
  readonly server?: string;
}

const when = (date: Date | undefined): string => (date ? date.toISOString().replace(/\.\d+Z$/, 'Z') : '-');

/** Lists the devices of the profile's account, as any of its devices sees them. */
export async function devices(store: ProfileStore, options: DevicesOptions): Promise<void> {
  const profile = await store.load(options.name);
  const client = new TandemClient(options.server ?? profile.server);
  try {
    const session = await DeviceSession.signIn(client, profile);
    const list = await client.linking.call(
      'listDevices',
      { accountId: profile.accountId },
      await session.token(),
    );
    console.log(`Account ${profile.accountId}, device list version ${list.listVersion}:`);
    const rows = [
      ['id', 'name', 'role', 'platform', 'linked at', 'last active', ''],
      ...list.devices.map((device) => [
        String(device.deviceId),
        device.name,
        device.primary ? 'primary' : 'companion',
        (DevicePlatform[device.platform] ?? String(device.platform))
          .replace(/^DEVICE_PLATFORM_/, '')
          .toLowerCase(),
        when(device.linkedAt),
        when(device.lastActiveAt),
        device.deviceId === profile.deviceId ? '<- this device' : '',
      ]),
    ];
    const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
    for (const row of rows) {
      console.log(`  ${row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ')}`.trimEnd());
    }
  } finally {
    client.close();
  }
}
