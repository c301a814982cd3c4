import { consumerWorker, type Infrastructure, type Worker } from '@tandem/runtime';
import type { DeviceDepartures } from './device-departures';
import { deviceListEventCodec } from './device-list-event.codec';

/**
 * The consumer that ends the streams of devices leaving their accounts on this instance: it reads
 * tandem.linking.events in a group of the instance's own, from the end, so that every instance
 * sees every departure (see DeviceDepartures).
 */
export const deviceDeparturesWorker = (
  service: string,
  infrastructure: Infrastructure,
  instanceId: string,
  departures: DeviceDepartures,
): Worker =>
  consumerWorker(`${service}.device-departures`, infrastructure.eventLog, {
    groupId: infrastructure.groupId(service, `device-departures.${instanceId}`),
    topic: infrastructure.topic('linking').name,
    codec: deviceListEventCodec,
    fromBeginning: false,
    handle: (received) => departures.apply(received),
  });
