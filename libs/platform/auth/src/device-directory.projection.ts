import { DeviceListEvent } from '@tandem/contracts/tandem/linking/v1/events';
import type { DocumentCollection, VersionedDocument } from '@tandem/documents';
import { oneofEventCodec, type ReceivedEvent } from '@tandem/event-sourcing';

export type DeviceListDomainEvent = NonNullable<DeviceListEvent['event']>;

/** The linking service's events, as every service reads them from tandem.linking.events. */
export const deviceListEventCodec = oneofEventCodec<DeviceListDomainEvent>(
  'tandem.linking.v1.DeviceListEvent',
  DeviceListEvent,
  (event) => event.value.accountId || ('sessionId' in event.value ? event.value.sessionId : ''),
);

/** One device as a service knows it from the linking service's events. */
export interface DeviceRecord extends VersionedDocument {
  readonly accountId: string;
  readonly deviceId: number;
  readonly primary: boolean;
  readonly linked: boolean;
  /** Base64 of the Ed25519 public identity key. */
  readonly identityKey: string;
  readonly registrationId: number;
  readonly name: string;
  readonly linkedAt: string;
  /** When the last change happened, by the linking service's clock. */
  readonly changedAt: string;
  /** When this service learned of the last change: `appliedAt - changedAt` is how long it took to arrive. */
  readonly appliedAt: string;
}

export const deviceRecordId = (accountId: string, deviceId: number): string => `${accountId}:${deviceId}`;

/**
 * The device directory every service keeps, from `tandem.linking.events`: which devices are
 * linked, so a token stops working as soon as the device's DeviceUnlinked reaches the service.
 * Each document records the device list version it reflects; a redelivered or older event
 * changes nothing.
 */
export class DeviceDirectory {
  constructor(private readonly devices: DocumentCollection<DeviceRecord>) {}

  /** The index `linkedPrimaries` needs on MongoDB: the inactivity sweep's query, off the request path. */
  async setUp(): Promise<void> {
    await this.devices.ensureIndex(['primary', 'linked']);
  }

  async apply({ event, metadata }: ReceivedEvent<DeviceListDomainEvent>, now = new Date()): Promise<void> {
    const version = metadata.aggregateVersion;
    switch (event.$case) {
      case 'deviceLinked': {
        const { value } = event;
        await this.devices.putIfNewer({
          _id: deviceRecordId(value.accountId, value.deviceId),
          accountId: value.accountId,
          deviceId: value.deviceId,
          primary: value.primary,
          linked: true,
          identityKey: Buffer.from(value.identityKey).toString('base64'),
          registrationId: value.registrationId,
          name: value.name,
          linkedAt: (value.linkedAt ?? metadata.occurredAt).toISOString(),
          changedAt: metadata.occurredAt.toISOString(),
          appliedAt: now.toISOString(),
          version,
        });
        return;
      }
      case 'deviceUnlinked': {
        const id = deviceRecordId(event.value.accountId, event.value.deviceId);
        const known = await this.devices.get(id);
        if (!known) return;
        await this.devices.putIfNewer({
          ...known,
          linked: false,
          changedAt: metadata.occurredAt.toISOString(),
          appliedAt: now.toISOString(),
          version,
        });
        return;
      }
    }
  }

  /** The primary devices that are linked: the accounts the inactivity sweeper looks at. */
  linkedPrimaries(): Promise<DeviceRecord[]> {
    return this.devices.find({ primary: true, linked: true });
  }

  find(accountId: string, deviceId: number): Promise<DeviceRecord | null> {
    return this.devices.get(deviceRecordId(accountId, deviceId));
  }
}
