import { type DeviceListEvent, UnlinkReason } from '@tandem/contracts/tandem/linking/v1/events';
import type { DocumentCollection, VersionedDocument } from '@tandem/documents';
import type { ReceivedEvent } from '@tandem/event-sourcing';
import type { RecipientDeviceList } from '@tandem/fanout-domain';
import { LRUCache } from 'lru-cache';

/** How long a list read from the store serves Sends before it is read again. */
const CACHE_MS = 1_000;

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
  /**
   * The lists as last read or written here, for a moment: every Send reads two. Another instance may
   * apply a change first, so a cached list is read again when it is older than a second or when a
   * Send it refused is decided again (`fresh`).
   */
  private readonly cached = new LRUCache<string, { readonly list: DeviceListRecord | null }>({
    max: 100_000,
    ttl: CACHE_MS,
  });

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
    this.cached.delete(accountId);
  }

  /** The account's list; `fresh` reads the store rather than the last second's copy. */
  async get(accountId: string, fresh = true): Promise<DeviceListRecord | null> {
    const known = fresh ? undefined : this.cached.get(accountId);
    if (known) return known.list;
    const list = await this.lists.get(accountId);
    this.cached.set(accountId, { list });
    return list;
  }

  /** The account's list as the message decider reads it. */
  async recipient(accountId: string, fresh = true): Promise<RecipientDeviceList> {
    const list = await this.get(accountId, fresh);
    if (!list) return { status: 'unknown' };
    if (list.deleted) return { status: 'deleted' };
    return { status: 'active', listVersion: list.listVersion, devices: list.devices };
  }
}
