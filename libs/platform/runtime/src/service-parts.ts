import type { Provider } from '@nestjs/common';
import {
  DEVICE_AUTHENTICATOR,
  DeviceAuthenticator,
  DeviceAuthGuard,
  type DeviceDepartures,
  DeviceDirectory,
  type DeviceListDomainEvent,
  deviceListEventCodec,
  DeviceTokens,
  loadTokenKeys,
} from '@tandem/auth';
import { type EventStore, OutboxRelay, toRecord } from '@tandem/event-sourcing';
import type { TopicSpec } from '@tandem/messaging';
import type { Infrastructure, RateLimits } from './infrastructure';
import { consumerWorker, periodicWorker, RELAY_IDLE_POLL_MS, type Worker } from './service';
import { defineProjection, eventFeed, type ServiceContext } from './service-definition';

/** A service's outbox relay: the commits of its event store to its topic, failed rounds logged. */
export function outboxRelay(
  { eventLog, logger }: Infrastructure,
  store: EventStore,
  topic: TopicSpec,
  payloadType: string,
): OutboxRelay {
  return new OutboxRelay({
    store,
    log: eventLog,
    topic: topic.name,
    encode: (event) => toRecord(event, payloadType),
    idleIntervalMs: RELAY_IDLE_POLL_MS,
    onError: (message, error, context) => logger.error({ err: error, ...context }, message),
  });
}

/** Device tokens as the configuration says: signed by linking, verified by every service. */
export const deviceTokens = ({ config }: Infrastructure): DeviceTokens =>
  new DeviceTokens(loadTokenKeys(config), config.tokens.ttlSeconds);

/**
 * The providers that make `DeviceAuthGuard` check each RPC's token against the service's own
 * device directory.
 */
export const deviceAuthProviders = (tokens: DeviceTokens, directory: DeviceDirectory): Provider[] => [
  { provide: DEVICE_AUTHENTICATOR, useValue: new DeviceAuthenticator(tokens, directory) },
  DeviceAuthGuard,
];

/** How often a service removes the rate-limit counts of windows that have ended. */
export const RATE_LIMIT_SWEEP_INTERVAL_MS = 60_000;

/** The periodic job that removes a service's rate-limit counts of windows that have ended. */
export const rateLimitSweeper = (service: string, limits: RateLimits, { logger }: Infrastructure): Worker =>
  periodicWorker(
    `${service}.rate-limit-sweeper`,
    RATE_LIMIT_SWEEP_INTERVAL_MS,
    () => limits.sweep(),
    (error) => logger.error({ err: error }, 'rate limit sweep failed'),
  );

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

/**
 * The device directory a service authenticates devices with, folded from tandem.linking.events
 * into its `devices` collection by the consumer group `<service>.<group>`.
 */
export const deviceDirectoryProjection = (group: string) =>
  defineProjection({
    name: 'device-directory',
    collections: ['devices'],
    volatileFields: { appliedAt: 'when the service applied the event (the clock of the moment)' },
    feeds: [eventFeed<DeviceListDomainEvent, DeviceDirectory>('linking', group, deviceListEventCodec)],
    create: (store) => new DeviceDirectory(store.collection('devices')),
  });
