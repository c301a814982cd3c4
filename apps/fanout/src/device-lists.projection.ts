import { type DeviceListEvent, UnlinkReason } from '@tandem/contracts/events/tandem/linking/v1/events';
import type { DocumentCollection, VersionedDocument } from '@tandem/documents';
import type { ReceivedEvent } from '@tandem/event-sourcing';
import type { RecipientDeviceList } from '@tandem/fanout-domain';

type DeviceListDomainEvent = NonNullable<DeviceListEvent['event']>;

export type ListedDevice = {
  readonly deviceId: number;
  readonly registrationId: number;
  readonly primary: boolean;
};

/** An account's device list as fanout checks coverage against it. */
export interface DeviceListRecord extends VersionedDocument {
  readonly accountId: string;
  readonly listVersion: number;
  /** The linked devices, ascending by id. */
  readonly devices: readonly ListedDevice[];
  /** Set when the account was deleted (its devices unlinked for that reason). */
  readonly deleted: boolean;
}

/**
 * Fanout's projection of every account's device list, from tandem.linking.events: what a Send
 * must cover and which devices get system entries. One document per account holding the device
 * list aggregate version it reflects, so a redelivered or replayed event changes nothing.
 */
export class DeviceListsProjection {
  constructor(private readonly lists: DocumentCollection<DeviceListRecord>) {}

  async apply({ event, metadata }: ReceivedEvent<DeviceListDomainEvent>): Promise<void> {
    if (event.$case !== 'deviceLinked' && event.$case !== 'deviceUnlinked') return;
    const accountId = event.value.accountId;
    const current = (await this.lists.get(accountId)) ?? {
      _id: accountId,
      accountId,
      listVersion: 0,
      devices: [],
      deleted: false,
      version: 0,
    };
    if (current.version >= metadata.aggregateVersion) return;
    const others = current.devices.filter((device) => device.deviceId !== event.value.deviceId);
    const next: DeviceListRecord =
      event.$case === 'deviceLinked'
        ? {
            ...current,
            listVersion: event.value.listVersion,
            devices: [
              ...others,
              {
                deviceId: event.value.deviceId,
                registrationId: event.value.registrationId,
                primary: event.value.primary,
              },
            ].sort((a, b) => a.deviceId - b.deviceId),
            deleted: false,
            version: metadata.aggregateVersion,
          }
        : {
            ...current,
            listVersion: event.value.listVersion,
            devices: others,
            deleted: event.value.reason === UnlinkReason.UNLINK_REASON_ACCOUNT_DELETED,
            version: metadata.aggregateVersion,
          };
    await this.lists.putIfNewer(next);
  }

  get(accountId: string): Promise<DeviceListRecord | null> {
    return this.lists.get(accountId);
  }

  /** The account's list as the message decider reads it. */
  async recipient(accountId: string): Promise<RecipientDeviceList> {
    const list = await this.lists.get(accountId);
    if (!list) return { status: 'unknown' };
    if (list.deleted) return { status: 'deleted' };
    return { status: 'active', listVersion: list.listVersion, devices: list.devices };
  }
}
