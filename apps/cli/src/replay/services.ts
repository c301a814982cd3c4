import type { PayloadJson } from '@tandem/event-sourcing';
import { TANDEM_SERVICES } from '@tandem/services';
import { type Connection, serviceTopic } from './connection';

/**
 * The services, as they declare themselves: each publishes to `<prefix>tandem.<service>.events`.
 * Loaded by the commands that need them only, so that the others start without every service.
 */
export const SERVICES: readonly string[] = TANDEM_SERVICES.map((service) => service.name);

export const isService = (name: string): boolean => SERVICES.includes(name);

/** A service's topic, or the name given when it is not a service's. */
export function topicName(connection: Connection, topicOrService: string): string {
  return isService(topicOrService) ? serviceTopic(connection, topicOrService) : topicOrService;
}

/** Every payload type the services write into envelopes, and how each prints as JSON. */
export const PAYLOADS: ReadonlyMap<string, PayloadJson> = new Map(
  TANDEM_SERVICES.flatMap((service) => service.payloads).map((payload) => [payload.payloadType, payload]),
);
