import { status } from '@grpc/grpc-js';
import { UnlinkReason } from '@tandem/contracts/tandem/linking/v1/events';
import type { ReceivedEvent } from '@tandem/event-sourcing';
import { GrpcStatusError } from '@tandem/grpc';
import { LRUCache } from 'lru-cache';
import type { DeviceListDomainEvent } from './device-directory.projection';

/**
 * A holder of server streams opened by devices (inbox streams, presence subscriptions): told when
 * a device left its account, it ends every stream of that device with `why`.
 */
export interface DeviceStreamHolder {
  endDeviceStreams(accountId: string, deviceId: number, why: GrpcStatusError): void;
}

/** What a device that left is told when its streams end, by why it left. */
const departureMessages: Readonly<Record<UnlinkReason, string>> = {
  [UnlinkReason.UNLINK_REASON_UNSPECIFIED]: 'device unlinked',
  [UnlinkReason.UNLINK_REASON_BY_PRIMARY]: 'device unlinked by the primary',
  [UnlinkReason.UNLINK_REASON_BY_SELF]: 'device unlinked itself',
  [UnlinkReason.UNLINK_REASON_PRIMARY_INACTIVE]: 'device unlinked: the primary was inactive too long',
  [UnlinkReason.UNLINK_REASON_ACCOUNT_REREGISTERED]:
    'device unlinked: the phone number was registered again on a new phone',
  [UnlinkReason.UNLINK_REASON_ACCOUNT_DELETED]: 'account deleted',
  [UnlinkReason.UNRECOGNIZED]: 'device unlinked',
};

/** Departed devices remembered for streams that open after the departure arrived. */
const REMEMBERED_DEPARTURES = 100_000;

/**
 * Ends the open streams of devices that leave their account, on this instance, as the linking
 * service's DeviceUnlinked events arrive (every way of leaving ends in one: unlinked by the
 * primary or by itself, the inactivity sweep, a re-registration of the number, account
 * deletion). Each instance reads tandem.linking.events in a group of its own, so a stream ends
 * wherever it is open. A device id is never given again, so a departure is final: a stream whose
 * authentication raced the event (the device directory not updated yet) is ended as it opens.
 */
export class DeviceDepartures {
  private readonly departed = new LRUCache<string, GrpcStatusError>({ max: REMEMBERED_DEPARTURES });
  private readonly holders: DeviceStreamHolder[] = [];

  /** Ends the streams `holder` keeps of each device that leaves from now on. */
  endStreamsIn(holder: DeviceStreamHolder): void {
    this.holders.push(holder);
  }

  /** Applies one linking event: a DeviceUnlinked ends every stream of the device it names. */
  async apply({ event }: ReceivedEvent<DeviceListDomainEvent>): Promise<void> {
    if (event.$case !== 'deviceUnlinked') return;
    const { accountId, deviceId, reason } = event.value;
    const why = new GrpcStatusError(status.UNAUTHENTICATED, departureMessages[reason] ?? 'device unlinked');
    this.departed.set(`${accountId}:${deviceId}`, why);
    for (const holder of this.holders) holder.endDeviceStreams(accountId, deviceId, why);
  }

  /** Why the device may not hold a stream, when this instance has seen it leave. */
  departure(accountId: string, deviceId: number): GrpcStatusError | undefined {
    return this.departed.get(`${accountId}:${deviceId}`);
  }
}
