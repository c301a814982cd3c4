import { status } from '@grpc/grpc-js';
import { UnlinkReason } from '@tandem/contracts/tandem/linking/v1/events';
import type { EventMetadata } from '@tandem/event-sourcing';
import type { GrpcStatusError } from '@tandem/grpc';
import { describe, expect, it } from 'vitest';
import { DeviceDepartures, type DeviceStreamHolder } from './device-departures';
import type { DeviceListDomainEvent } from './device-directory.projection';

const metadata = { aggregateVersion: 3, occurredAt: new Date(0) } as EventMetadata;

const unlinked = (deviceId: number, reason: UnlinkReason): DeviceListDomainEvent => ({
  $case: 'deviceUnlinked',
  value: {
    accountId: 'account-a',
    deviceId,
    reason,
    unlinkedAt: new Date(0),
    listVersion: 3,
    listSignature: Buffer.alloc(0),
    byDeviceId: 1,
  },
});

/** A holder that records what it is told to end. */
class EndedStreams implements DeviceStreamHolder {
  readonly ended: { accountId: string; deviceId: number; code: status; message: string }[] = [];

  endDeviceStreams(accountId: string, deviceId: number, why: GrpcStatusError): void {
    this.ended.push({ accountId, deviceId, code: why.code, message: why.message });
  }
}

describe('DeviceDepartures', () => {
  it.each([
    [UnlinkReason.UNLINK_REASON_BY_PRIMARY, 'device unlinked by the primary'],
    [UnlinkReason.UNLINK_REASON_BY_SELF, 'device unlinked itself'],
    [UnlinkReason.UNLINK_REASON_PRIMARY_INACTIVE, 'device unlinked: the primary was inactive too long'],
    [
      UnlinkReason.UNLINK_REASON_ACCOUNT_REREGISTERED,
      'device unlinked: the phone number was registered again on a new phone',
    ],
    [UnlinkReason.UNLINK_REASON_ACCOUNT_DELETED, 'account deleted'],
  ])(
    'given DeviceUnlinked with reason %i, ends the device streams of every holder with UNAUTHENTICATED "%s"',
    async (reason, message) => {
      const departures = new DeviceDepartures();
      const inboxes = new EndedStreams();
      const subscriptions = new EndedStreams();
      departures.endStreamsIn(inboxes);
      departures.endStreamsIn(subscriptions);

      await departures.apply({ event: unlinked(2, reason), metadata });

      const expected = [{ accountId: 'account-a', deviceId: 2, code: status.UNAUTHENTICATED, message }];
      expect(inboxes.ended).toEqual(expected);
      expect(subscriptions.ended).toEqual(expected);
    },
  );

  it('remembers the departure, so a stream whose authentication raced the event is refused as it opens', async () => {
    const departures = new DeviceDepartures();
    await departures.apply({ event: unlinked(2, UnlinkReason.UNLINK_REASON_BY_SELF), metadata });

    expect(departures.departure('account-a', 2)?.code).toBe(status.UNAUTHENTICATED);
    expect(departures.departure('account-a', 2)?.message).toBe('device unlinked itself');
    expect(departures.departure('account-a', 3)).toBeUndefined();
    expect(departures.departure('account-b', 2)).toBeUndefined();
  });

  it('ends nothing for a device that is linked or renamed', async () => {
    const departures = new DeviceDepartures();
    const holder = new EndedStreams();
    departures.endStreamsIn(holder);

    await departures.apply({
      event: {
        $case: 'deviceRenamed',
        value: { accountId: 'account-a', deviceId: 2, name: 'Work laptop', byDeviceId: 1 },
      } as DeviceListDomainEvent,
      metadata,
    });

    expect(holder.ended).toEqual([]);
    expect(departures.departure('account-a', 2)).toBeUndefined();
  });
});
