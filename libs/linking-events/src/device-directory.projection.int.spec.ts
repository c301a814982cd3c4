import { DevicePlatform } from '@tandem/contracts/tandem/linking/v1/device_list';
import { type DeviceListEvent, UnlinkReason } from '@tandem/contracts/tandem/linking/v1/events';
import { MongoDocumentStore } from '@tandem/documents';
import type { ReceivedEvent } from '@tandem/event-sourcing';
import { describeProjection, eventsOn } from '@tandem/projection-testing';
import { testInfrastructure, uniqueName } from '@tandem/testing';
import { type Db, MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceDirectory, type DeviceRecord } from './device-directory.projection';
import type { DeviceListDomainEvent } from './device-list-event.codec';

type Event = NonNullable<DeviceListEvent['event']>;
const accountId = 'acc-1';

function received(event: Event, version: number): ReceivedEvent<Event> {
  return {
    event,
    metadata: {
      eventId: `e${version}`,
      type: event.$case,
      aggregateId: accountId,
      aggregateVersion: version,
      occurredAt: new Date('2026-11-25T10:00:00Z'),
      correlationId: 'c',
      causationId: 'c',
      traceparent: '',
      tracestate: '',
      partitionKey: accountId,
      payloadType: 'tandem.linking.v1.DeviceListEvent',
      topic: 'tandem.linking.events',
      partition: 0,
      offset: String(version),
    },
  };
}

const linked = (deviceId: number, version: number) =>
  received(
    {
      $case: 'deviceLinked',
      value: {
        accountId,
        deviceId,
        identityKey: Buffer.alloc(32, deviceId),
        registrationId: 10 + deviceId,
        name: `device ${deviceId}`,
        platform: DevicePlatform.DEVICE_PLATFORM_PHONE,
        primary: deviceId === 1,
        linkedAt: new Date('2026-11-25T10:00:00Z'),
        listVersion: version,
        linkSessionId: deviceId === 1 ? '' : `session-${deviceId}`,
        listSignature: Buffer.alloc(deviceId === 1 ? 0 : 64, 7),
        byDeviceId: deviceId === 1 ? 0 : 1,
      },
    },
    version,
  );

const unlinked = (deviceId: number, version: number) =>
  received(
    {
      $case: 'deviceUnlinked',
      value: {
        accountId,
        deviceId,
        reason: UnlinkReason.UNLINK_REASON_BY_PRIMARY,
        unlinkedAt: new Date('2026-11-25T10:05:00Z'),
        listVersion: version,
        listSignature: Buffer.alloc(64, 7),
        byDeviceId: 1,
      },
    },
    version,
  );

describe('the device directory on a MongoDB-protocol server', () => {
  let client: MongoClient;
  let db: Db;
  let directory: DeviceDirectory;

  beforeAll(async () => {
    client = await MongoClient.connect(testInfrastructure().mongoUri);
    db = client.db(uniqueName('directory'));
    directory = new DeviceDirectory(new MongoDocumentStore(db).collection<DeviceRecord>('devices'));
  });

  afterAll(async () => {
    await db.dropDatabase();
    await client.close();
  });

  it('knows linked devices and forgets unlinked ones', async () => {
    await directory.apply(linked(1, 1));
    await directory.apply(linked(2, 2));
    await directory.apply(unlinked(2, 3));
    expect(await directory.find(accountId, 1)).toMatchObject({ linked: true, primary: true, version: 1 });
    expect(await directory.find(accountId, 2)).toMatchObject({ linked: false, primary: false, version: 3 });
    expect(await directory.find(accountId, 3)).toBeNull();
  });

  it('changes nothing when an event comes again after a later one', async () => {
    await directory.apply(linked(2, 2));
    expect(await directory.find(accountId, 2)).toMatchObject({ linked: false, version: 3 });
    await directory.apply(unlinked(2, 3));
    expect(await directory.find(accountId, 2)).toMatchObject({ linked: false, version: 3 });
  });
});

const onLinking = eventsOn<DeviceListDomainEvent>(
  'tandem.linking.events',
  'tandem.linking.v1.DeviceListEvent',
);
const at = (minute: number) => new Date(Date.UTC(2026, 10, 25, 10, minute));

const deviceLinked = (account: string, deviceId: number, version: number, name = `device ${deviceId}`) =>
  onLinking(
    {
      $case: 'deviceLinked',
      value: {
        accountId: account,
        deviceId,
        identityKey: Buffer.alloc(32, deviceId),
        registrationId: 10 + deviceId,
        name,
        platform:
          deviceId === 1 ? DevicePlatform.DEVICE_PLATFORM_PHONE : DevicePlatform.DEVICE_PLATFORM_DESKTOP,
        primary: deviceId === 1,
        linkedAt: at(version),
        listVersion: version,
        linkSessionId: deviceId === 1 ? '' : `session-${account}-${deviceId}`,
        listSignature: Buffer.alloc(deviceId === 1 ? 0 : 64, 7),
        byDeviceId: deviceId === 1 ? 0 : 1,
      },
    },
    account,
    version,
    { occurredAt: at(version) },
  );

const deviceUnlinked = (account: string, deviceId: number, version: number, reason: UnlinkReason) =>
  onLinking(
    {
      $case: 'deviceUnlinked',
      value: {
        accountId: account,
        deviceId,
        reason,
        unlinkedAt: at(version),
        listVersion: version,
        listSignature: Buffer.alloc(64, 7),
        byDeviceId: reason === UnlinkReason.UNLINK_REASON_BY_PRIMARY ? 1 : deviceId,
      },
    },
    account,
    version,
    { occurredAt: at(version) },
  );

describeProjection({
  name: 'device directory',
  create: async (store) => {
    const directory = new DeviceDirectory(store.collection('devices'));
    await directory.setUp();
    return directory;
  },
  apply: (directory, event) => directory.apply(event),
  collections: ['devices'],
  history: [
    deviceLinked('acc-a', 1, 1),
    deviceLinked('acc-b', 1, 1),
    deviceLinked('acc-a', 2, 2),
    onLinking(
      {
        $case: 'deviceRenamed',
        value: { accountId: 'acc-a', deviceId: 2, name: 'work laptop', byDeviceId: 1 },
      },
      'acc-a',
      3,
    ),
    deviceLinked('acc-b', 2, 2),
    deviceUnlinked('acc-a', 2, 4, UnlinkReason.UNLINK_REASON_BY_PRIMARY),
    deviceLinked('acc-a', 3, 5),
    deviceUnlinked('acc-b', 2, 3, UnlinkReason.UNLINK_REASON_BY_SELF),
    deviceUnlinked('acc-b', 1, 4, UnlinkReason.UNLINK_REASON_ACCOUNT_DELETED),
  ],
  stale: [
    deviceLinked('acc-a', 2, 2, 'an older name'),
    deviceLinked('acc-b', 1, 1, 'an older name'),
    deviceUnlinked('acc-a', 1, 1, UnlinkReason.UNLINK_REASON_BY_PRIMARY),
  ],
  clockFields: {
    appliedAt: 'when this service applied the change, by its own clock: a rebuild applies it later',
  },
  expectDocuments: ({ devices }) => {
    expect(devices.map((device) => [device._id, device['linked'], device['version']])).toEqual([
      ['acc-a:1', true, 1],
      ['acc-a:2', false, 4],
      ['acc-a:3', true, 5],
      ['acc-b:1', false, 4],
      ['acc-b:2', false, 3],
    ]);
    expect(devices[1]).toMatchObject({
      accountId: 'acc-a',
      deviceId: 2,
      primary: false,
      identityKey: Buffer.alloc(32, 2).toString('base64'),
      registrationId: 12,
      name: 'device 2',
      linkedAt: at(2).toISOString(),
      changedAt: at(4).toISOString(),
    });
  },
});
