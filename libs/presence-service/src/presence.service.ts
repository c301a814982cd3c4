import { PresenceServiceService } from '@tandem/contracts/tandem/presence/v1/presence_service';
import { deviceDeparturesWorker, deviceDirectoryProjection, DeviceDepartures } from '@tandem/linking-events';
import type { TopicSpec } from '@tandem/messaging';
import { batchFeed, defineService, eventFeed, type ServiceContext } from '@tandem/runtime';
import { AccountsEventsConsumer } from './accounts-events.consumer';
import { FanoutEventsConsumer } from './fanout-events.consumer';
import { type PresencePrivacy, presencePrivacy, type PrivacyListener } from './presence-privacy.projection';
import {
  accountEventCodec,
  presenceEventCodec,
  restoreMarkerJson,
  typingEventCodec,
} from './presence.codecs';
import {
  HEARTBEAT_INTERVAL_SECONDS,
  PRESENCE_RATE_LIMIT,
  PresenceGrpcController,
  presenceRateLimit,
} from './presence.grpc-controller';
import { PresenceBook, presenceBookOptions } from './presence-book';
import { PresenceLog } from './presence-log';
import { RESTORE_TIMEOUT_MS, restoreWorker } from './presence-restore';
import { PresenceSubscriptions } from './presence-subscriptions';
import { TypingIndicators, typingTopic } from './typing-indicators';

/** Everyone's presence, compacted: the last record of each account is its presence. */
const presenceTopic = (service: ServiceContext): TopicSpec => ({
  ...service.topic('presence'),
  compacted: true,
});

const deviceDirectory = deviceDirectoryProjection('linking-events');

/**
 * The presence service: device and account presence from fanout's inbox-stream events
 * (tandem.fanout.events) and from heartbeats, kept in memory and written to the compacted topic
 * tandem.presence.events on every change; typing through the short-lived topic
 * tandem.presence.typing; Subscribe streams both, with last seen filtered by the accounts'
 * privacy settings (tandem.accounts.events) and contacts (fanout's MessageAccepted). A start
 * restores presence from the compacted topic before it consumes or serves anything, then goes on
 * with fanout's events from where its consumer group stood.
 *
 * One instance at a time: presence keeps heartbeats and the state it compares changes against in
 * its memory, so a second instance would split fanout's partitions with the first and see only
 * part of the heartbeats. Deploy one replica that is replaced (recreate), not rolled.
 */
export const presenceService = defineService({
  name: 'presence',
  grpc: PresenceServiceService,
  controllers: [PresenceGrpcController],
  payloads: [presenceEventCodec, typingEventCodec, restoreMarkerJson],
  topics: (service) => [presenceTopic(service), typingTopic(service.config)],
  build(service) {
    const { eventLog, config, logger } = service;
    const clock = () => new Date();
    const reportError = (error: unknown, message: string) => logger.error({ err: error }, message);
    const presenceLog = new PresenceLog(eventLog, presenceTopic(service).name, clock);
    const book = new PresenceBook(
      presenceLog.publish,
      clock,
      presenceBookOptions(config.presence.timeoutSeconds),
    );
    const typing: TypingIndicators = new TypingIndicators({
      log: eventLog,
      topic: typingTopic(config).name,
      clock,
      typingMs: config.presence.typingSeconds * 1000,
      onUpdate: (update) => subscriptions.typingChanged(update),
    });
    const departures = new DeviceDepartures();
    // The subscriptions read privacy and are told of its changes.
    const privacyListener: PrivacyListener = {
      visibilityChanged: (accountId) => subscriptions.visibilityChanged(accountId),
      pairsChanged: (pairs) => subscriptions.pairsChanged(pairs),
    };
    const privacy: PresencePrivacy = service.projection(presencePrivacy, privacyListener);
    const subscriptions: PresenceSubscriptions = new PresenceSubscriptions(
      book,
      typing,
      privacy,
      reportError,
      departures,
    );
    departures.endStreamsIn(subscriptions);
    book.onChange((presence) => subscriptions.presenceChanged(presence));
    return {
      book,
      typing,
      privacy,
      departures,
      subscriptions,
      fanoutEvents: new FanoutEventsConsumer(book),
      accountsEvents: new AccountsEventsConsumer(book),
      directory: service.projection(deviceDirectory),
    };
  },
  projections: [deviceDirectory, presencePrivacy],
  consumers: [
    {
      name: 'forget-deleted-accounts',
      feed: eventFeed('accounts', 'accounts-events', accountEventCodec),
      handler: (parts) => parts.accountsEvents,
    },
    {
      name: 'presence-of-streams',
      feed: batchFeed('fanout', 'fanout-events'),
      handler: (parts) => parts.fanoutEvents,
    },
  ],
  jobs: [
    {
      name: 'sweep',
      intervalMs: ({ presence: { timeoutSeconds, typingSeconds } }) =>
        Math.max(200, Math.min(1_000, (Math.min(timeoutSeconds, typingSeconds) * 1000) / 5)),
      async run({ book, typing }) {
        book.sweep();
        typing.sweep();
        await book.flush();
      },
    },
  ],
  providers: ({ book, typing, subscriptions }, { config }) => [
    { provide: PresenceBook, useValue: book },
    { provide: TypingIndicators, useValue: typing },
    { provide: PresenceSubscriptions, useValue: subscriptions },
    { provide: PRESENCE_RATE_LIMIT, useValue: presenceRateLimit() },
    {
      provide: HEARTBEAT_INTERVAL_SECONDS,
      useValue: Math.max(1, Math.floor(config.presence.timeoutSeconds / 3)),
    },
  ],
  devices: ({ directory }) => directory,
  workers: ({ book, typing, departures }, service) => [
    restoreWorker({
      log: service.eventLog,
      topic: presenceTopic(service),
      groupId: service.groupId(`restore.${service.instanceId}`),
      instanceId: service.instanceId,
      book,
      logger: service.logger,
      clock: () => new Date(),
      timeoutMs: RESTORE_TIMEOUT_MS,
    }),
    deviceDeparturesWorker(service, departures),
    typing.worker(service.groupId(`typing.${service.instanceId}`)),
  ],
  endStreams: ({ subscriptions }) => subscriptions.endAll(),
});
