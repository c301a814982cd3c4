import { DevicePlatform } from '@tandem/contracts/tandem/linking/v1/device_list';
import { type DeviceListDomainEvent, linkSessionStreamId } from '@tandem/linking-domain';
import { describeProjection, eventsOn } from '@tandem/projection-testing';
import { expect } from 'vitest';
import { LinkSessionsProjection } from './link-sessions.projection';

const received = eventsOn<DeviceListDomainEvent>(
  'tandem.linking.events',
  'tandem.linking.v1.DeviceListEvent',
);

const started = (sessionId: string, expiresAt: string) =>
  received(
    {
      $case: 'linkSessionStarted',
      value: {
        sessionId,
        identityKey: Buffer.alloc(32, 3),
        registrationId: 42,
        name: `laptop ${sessionId}`,
        platform: DevicePlatform.DEVICE_PLATFORM_DESKTOP,
        expiresAt: new Date(expiresAt),
        accountId: '',
      },
    },
    linkSessionStreamId(sessionId),
    1,
    { partitionKey: sessionId },
  );

const history = [
  started('s-approved', '2026-11-25T10:05:00.000Z'),
  started('s-expired', '2026-11-25T10:06:00.000Z'),
  received(
    { $case: 'linkSessionApproved', value: { sessionId: 's-approved', accountId: 'acc-1', byDeviceId: 1 } },
    linkSessionStreamId('s-approved'),
    2,
    { partitionKey: 's-approved' },
  ),
  started('s-open', '2026-11-25T10:07:00.000Z'),
  received(
    {
      $case: 'deviceRenamed',
      value: { accountId: 'acc-1', deviceId: 2, name: 'work laptop', byDeviceId: 1 },
    },
    'acc-1',
    4,
  ),
  received(
    { $case: 'linkSessionExpired', value: { sessionId: 's-expired', accountId: '' } },
    linkSessionStreamId('s-expired'),
    2,
    { partitionKey: 's-expired' },
  ),
];

describeProjection({
  name: 'link sessions',
  create: async (store) => {
    const projection = new LinkSessionsProjection(store.collection('link_sessions'));
    await projection.setUp();
    return projection;
  },
  apply: (projection, event) => projection.apply(event),
  collections: ['link_sessions'],
  history,
  stale: [
    started('s-approved', '2026-11-25T11:00:00.000Z'),
    received(
      { $case: 'linkSessionApproved', value: { sessionId: 's-expired', accountId: 'acc-2', byDeviceId: 1 } },
      linkSessionStreamId('s-expired'),
      1,
      { partitionKey: 's-expired' },
    ),
  ],
  expectDocuments: ({ link_sessions }) => {
    expect(link_sessions).toEqual([
      { _id: 's-approved', status: 'approved', expiresAt: '2026-11-25T10:05:00.000Z', version: 2 },
      { _id: 's-expired', status: 'expired', expiresAt: '2026-11-25T10:06:00.000Z', version: 2 },
      { _id: 's-open', status: 'started', expiresAt: '2026-11-25T10:07:00.000Z', version: 1 },
    ]);
  },
});
