import type { Provider } from '@nestjs/common';
import {
  DEVICE_AUTHENTICATOR,
  DeviceAuthenticator,
  DeviceAuthGuard,
  type DeviceLookup,
  DeviceTokens,
  loadTokenKeys,
} from '@tandem/auth';
import { type EventStore, OutboxRelay, toRecord } from '@tandem/event-sourcing';
import type { TopicSpec } from '@tandem/messaging';
import type { Infrastructure, RateLimits } from './infrastructure';
import { periodicWorker, RELAY_IDLE_POLL_MS, type Worker } from './service';

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
 * knowledge of the devices (its device directory).
 */
export const deviceAuthProviders = (tokens: DeviceTokens, devices: DeviceLookup): Provider[] => [
  { provide: DEVICE_AUTHENTICATOR, useValue: new DeviceAuthenticator(tokens, devices) },
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
