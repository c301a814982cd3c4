import { DevicePlatform } from '@tandem/contracts/tandem/linking/v1/device_list';
import { type DeviceListEvent, UnlinkReason } from '@tandem/contracts/tandem/linking/v1/events';
import { MongoDocumentStore } from '@tandem/documents';
import type { ReceivedEvent } from '@tandem/event-sourcing';
import { testInfrastructure, uniqueName } from '@tandem/testing';
import { type Db, MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceDirectory, type DeviceRecord } from './device-directory.projection';

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
