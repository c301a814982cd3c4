import { PresenceServiceService } from '@tandem/contracts/tandem/presence/v1/presence_service';
import {
  deviceDeparturesWorker,
  deviceDirectoryProjection,
  DeviceDepartures,
  type DeviceDirectory,
} from '@tandem/linking-events';
import { MemoryRateLimit } from '@tandem/grpc';
import type { TopicSpec } from '@tandem/messaging';
import { batchFeed, defineConsumer, defineService, eventFeed, type ServiceContext } from '@tandem/runtime';
import type { TandemConfig } from '@tandem/config';
import { AccountsEventsConsumer } from './accounts-events.consumer';
import { FanoutEventsConsumer } from './fanout-events.consumer';
import { type PresencePrivacy, presencePrivacy, type PrivacyListener } from './presence-privacy.projection';
import {
  accountEventCodec,
  eventRecord,
  presenceEventCodec,
  restoreMarkerJson,
  typingEventCodec,
} from './presence.codecs';
import {
  HEARTBEAT_INTERVAL_SECONDS,
  PRESENCE_RATE_LIMIT,
  PresenceGrpcController,
} from './presence.grpc-controller';
import { PresenceBook } from './presence-book';
import { restoreWorker } from './presence-restore';
import { PresenceSubscriptions } from './presence-subscriptions';
import { TypingIndicators } from './typing-indicators';

/** How long typing records are kept: typing matters for seconds. */
const TYPING_RETENTION_MS = 60_000;

/**
 * How long a fan-out instance presence has not heard say InstanceAlive counts as alive: fanout's
 * valid_for_ms, so a restarted presence keeps the streams it restored until the instances that
 * hold them say they are alive (every 20 s), or drops them when they do not.
 */
const INSTANCE_GRACE_MS = 60_000;

/** After how long seen dead a fan-out instance and the streams it held are forgotten. */
const FORGET_INSTANCES_AFTER_MS = 10 * 60_000;

/** How long restoring from the compacted topic may take before the start fails. */
const RESTORE_TIMEOUT_MS = 120_000;

/** Heartbeats and typing updates one device may send per minute. */
const UPDATES_PER_MINUTE = 120;

/** Everyone's presence, compacted: the last record of each account is its presence. */
const presenceTopic = (service: ServiceContext): TopicSpec => ({
  ...service.topic('presence'),
  compacted: true,
});

/** The short-lived topic of typing updates. */
const typingTopic = (config: TandemConfig): TopicSpec => ({
  name: `${config.topicPrefix}tandem.presence.typing`,
  partitions: config.topicPartitions,
  retentionMs: TYPING_RETENTION_MS,
});

const deviceDirectory = deviceDirectoryProjection('linking-events');

interface PresenceParts {
  readonly book: PresenceBook;
  readonly typing: TypingIndicators;
  readonly privacy: PresencePrivacy;
  readonly departures: DeviceDepartures;
  readonly subscriptions: PresenceSubscriptions;
  readonly fanoutEvents: FanoutEventsConsumer;
  readonly accountsEvents: AccountsEventsConsumer;
  readonly directory: DeviceDirectory;
}

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
export const presenceService = defineService<PresenceParts>({
  name: 'presence',
  grpc: PresenceServiceService,
  controllers: [PresenceGrpcController],
  payloads: [presenceEventCodec, typingEventCodec, restoreMarkerJson],
  topics: (service) => [presenceTopic(service), typingTopic(service.config)],
  projections: [deviceDirectory, presencePrivacy],
  consumers: [
    defineConsumer({
      name: 'forget-deleted-accounts',
      feed: eventFeed('accounts', 'accounts-events', accountEventCodec),
      handler: (parts: PresenceParts) => parts.accountsEvents,
    }),
    defineConsumer({
      name: 'presence-of-streams',
      feed: batchFeed('fanout', 'fanout-events'),
      handler: (parts: PresenceParts) => parts.fanoutEvents,
    }),
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
  build(service) {
    const { eventLog, config, logger } = service;
    const clock = () => new Date();
    const topic = presenceTopic(service).name;
    const reportError = (error: unknown, message: string) => logger.error({ err: error }, message);
    const book = new PresenceBook(
      (records) =>
        eventLog.publish(
          topic,
          records.map(({ record, version }) =>
            eventRecord(
              presenceEventCodec,
              { $case: 'presenceChanged', value: record },
              { aggregateId: record.accountId, version, occurredAt: record.changedAt ?? clock() },
            ),
          ),
        ),
      clock,
      {
        heartbeatTimeoutMs: config.presence.timeoutSeconds * 1000,
        instanceGraceMs: INSTANCE_GRACE_MS,
        forgetInstancesAfterMs: FORGET_INSTANCES_AFTER_MS,
      },
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
  providers: ({ book, typing, subscriptions }, { config }) => [
    { provide: PresenceBook, useValue: book },
    { provide: TypingIndicators, useValue: typing },
    { provide: PresenceSubscriptions, useValue: subscriptions },
    {
      provide: PRESENCE_RATE_LIMIT,
      // In memory even in distributed mode: presence runs as one replica (it holds every
      // device's presence in memory), so one process's count is the whole count.
      useValue: new MemoryRateLimit({
        name: 'presence-updates',
        what: 'presence updates from this device',
        points: UPDATES_PER_MINUTE,
        windowSeconds: 60,
      }),
    },
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
