import type { Provider } from '@nestjs/common';
import {
  DEVICE_AUTHENTICATOR,
  DeviceAuthenticator,
  DeviceAuthGuard,
  type DeviceDirectory,
  DeviceTokens,
  loadTokenKeys,
} from '@tandem/auth';
import { type EventStore, OutboxRelay, toRecord } from '@tandem/event-sourcing';
import type { TopicSpec } from '@tandem/messaging';
import type { Infrastructure } from './infrastructure';
import { RELAY_IDLE_POLL_MS } from './service';

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
