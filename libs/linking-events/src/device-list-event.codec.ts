import { DeviceListEvent } from '@tandem/contracts/tandem/linking/v1/events';
import { oneofEventCodec } from '@tandem/event-sourcing';

export type DeviceListDomainEvent = NonNullable<DeviceListEvent['event']>;

/** The linking service's events, as every service reads them from tandem.linking.events. */
export const deviceListEventCodec = oneofEventCodec<DeviceListDomainEvent>(
  'tandem.linking.v1.DeviceListEvent',
  DeviceListEvent,
  (event) => event.value.accountId || ('sessionId' in event.value ? event.value.sessionId : ''),
);
