import { consumerWorker, type ServiceContext, type Worker } from '@tandem/runtime';
import type { DeviceDepartures } from './device-departures';
import { deviceListEventCodec } from './device-list-event.codec';

/**
 * The consumer that ends the streams of devices leaving their accounts on this instance: it reads
 * tandem.linking.events in a group of the instance's own, from the end, so that every instance
 * sees every departure (see DeviceDepartures).
 */
export const deviceDeparturesWorker = (service: ServiceContext, departures: DeviceDepartures): Worker =>
  consumerWorker(`${service.service}.device-departures`, service.eventLog, {
    groupId: service.groupId(`device-departures.${service.instanceId}`),
    topic: service.topic('linking').name,
    codec: deviceListEventCodec,
    fromBeginning: false,
    handle: (received) => departures.apply(received),
  });
