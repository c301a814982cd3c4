import { DevicePlatform } from '@tandem/contracts/tandem/linking/v1/device_list';
import { type DeviceListEvent, UnlinkReason } from '@tandem/contracts/tandem/linking/v1/events';
import { describeProjection, eventsOn } from '@tandem/projection-testing';
import { expect } from 'vitest';
import { DeviceListsProjection } from './device-lists.projection';

type DeviceListDomainEvent = NonNullable<DeviceListEvent['event']>;

const onLinking = eventsOn<DeviceListDomainEvent>(
  'tandem.linking.events',
  'tandem.linking.v1.DeviceListEvent',
);

const linked = (accountId: string, deviceId: number, version: number, registrationId = 100 + deviceId) =>
  onLinking(
    {
      $case: 'deviceLinked',
      value: {
        accountId,
        deviceId,
        identityKey: Buffer.alloc(32, deviceId),
        registrationId,
        name: `device ${deviceId}`,
        platform:
          deviceId === 1 ? DevicePlatform.DEVICE_PLATFORM_PHONE : DevicePlatform.DEVICE_PLATFORM_DESKTOP,
        primary: deviceId === 1,
        linkedAt: new Date('2026-11-25T10:00:00.000Z'),
        listVersion: version,
        linkSessionId: deviceId === 1 ? '' : `session-${accountId}-${deviceId}`,
        listSignature: Buffer.alloc(deviceId === 1 ? 0 : 64, 7),
        byDeviceId: deviceId === 1 ? 0 : 1,
      },
    },
    accountId,
    version,
  );

const unlinked = (accountId: string, deviceId: number, version: number, reason: UnlinkReason) =>
  onLinking(
    {
      $case: 'deviceUnlinked',
      value: {
        accountId,
        deviceId,
        reason,
        unlinkedAt: new Date('2026-11-25T10:30:00.000Z'),
        listVersion: version,
        listSignature: Buffer.alloc(64, 7),
        byDeviceId: 1,
      },
    },
    accountId,
    version,
  );

describeProjection({
  name: 'fanout device lists',
  create: (store) => new DeviceListsProjection(store.collection('device_lists')),
  apply: (lists, event) => lists.apply(event),
  collections: ['device_lists'],
  history: [
    linked('acc-a', 1, 1),
    linked('acc-b', 1, 1),
    linked('acc-a', 3, 2),
    linked('acc-a', 2, 3),
    onLinking(
      {
        $case: 'deviceListSigned',
        value: { accountId: 'acc-a', listVersion: 4, listSignature: Buffer.alloc(64, 9) },
      },
      'acc-a',
      4,
    ),
    linked('acc-b', 2, 2),
    unlinked('acc-a', 3, 5, UnlinkReason.UNLINK_REASON_BY_SELF),
    unlinked('acc-b', 2, 3, UnlinkReason.UNLINK_REASON_ACCOUNT_DELETED),
    unlinked('acc-b', 1, 4, UnlinkReason.UNLINK_REASON_ACCOUNT_DELETED),
    linked('acc-c', 1, 1),
    unlinked('acc-c', 1, 2, UnlinkReason.UNLINK_REASON_ACCOUNT_REREGISTERED),
    linked('acc-c', 2, 3),
  ],
  stale: [
    linked('acc-a', 3, 2, 999),
    linked('acc-b', 2, 2, 999),
    unlinked('acc-a', 1, 3, UnlinkReason.UNLINK_REASON_PRIMARY_INACTIVE),
  ],
  expectDocuments: ({ device_lists }) => {
    expect(device_lists).toEqual([
      {
        _id: 'acc-a',
        accountId: 'acc-a',
        listVersion: 5,
        devices: [
          { deviceId: 1, registrationId: 101, primary: true },
          { deviceId: 2, registrationId: 102, primary: false },
        ],
        deleted: false,
        version: 5,
      },
      { _id: 'acc-b', accountId: 'acc-b', listVersion: 4, devices: [], deleted: true, version: 4 },
      {
        _id: 'acc-c',
        accountId: 'acc-c',
        listVersion: 3,
        devices: [{ deviceId: 2, registrationId: 102, primary: false }],
        deleted: false,
        version: 3,
      },
    ]);
  },
});
