import { randomUUID } from 'node:crypto';
import { Module } from '@nestjs/common';
import { DeviceDepartures, DeviceDirectory } from '@tandem/auth';
import { MemoryRateLimit } from '@tandem/grpc';
import type { TopicSpec } from '@tandem/messaging';
import {
  batchConsumerWorker,
  consumerWorker,
  type Infrastructure,
  periodicWorker,
  type TandemService,
  deviceAuthProviders,
  deviceDeparturesWorker,
  deviceTokens,
} from '@tandem/runtime';
import { FanoutEventsConsumer } from './fanout-events.consumer';
import { PresencePrivacy } from './presence-privacy.projection';
import { accountEventCodec, deviceListEventCodec, eventRecord, presenceEventCodec } from './presence.codecs';
import {
  HEARTBEAT_INTERVAL_SECONDS,
  PRESENCE_RATE_LIMIT,
  PresenceGrpcController,
} from './presence.grpc-controller';
import { PresenceBook } from './presence-book';
import { restoreWorker } from './presence-restore';
import { PresenceSubscriptions } from './presence-subscriptions';
import { TypingIndicators } from './typing-indicators';
import { PresenceServiceService } from '@tandem/contracts/tandem/presence/v1/presence_service';

@Module({})
class PresenceModule {}

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

export interface PresenceServiceOptions {
  /** The clock of every presence decision; the system clock by default. */
  readonly clock?: () => Date;
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
export async function presenceService(
  infrastructure: Infrastructure,
  options: PresenceServiceOptions = {},
): Promise<TandemService> {
  const { eventLog, logger, config } = infrastructure;
  const clock = options.clock ?? (() => new Date());
  const documents = await infrastructure.documents('presence');
  const instanceId = randomUUID();
  const topic: TopicSpec = { ...infrastructure.topic('presence'), compacted: true };
  const typingTopic: TopicSpec = {
    name: `${config.topicPrefix}tandem.presence.typing`,
    partitions: config.topicPartitions,
    retentionMs: TYPING_RETENTION_MS,
  };
  const fanoutTopic = infrastructure.topic('fanout');
  const accountsTopic = infrastructure.topic('accounts');
  const linkingTopic = infrastructure.topic('linking');
  const { timeoutSeconds, typingSeconds } = config.presence;
  const reportError = (error: unknown, message: string) => logger.error({ err: error }, message);

  const book = new PresenceBook(
    (records) =>
      eventLog.publish(
        topic.name,
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
      heartbeatTimeoutMs: timeoutSeconds * 1000,
      instanceGraceMs: INSTANCE_GRACE_MS,
      forgetInstancesAfterMs: FORGET_INSTANCES_AFTER_MS,
    },
  );
  const typing: TypingIndicators = new TypingIndicators({
    log: eventLog,
    topic: typingTopic.name,
    clock,
    typingMs: typingSeconds * 1000,
    onUpdate: (update) => subscriptions.typingChanged(update),
  });
  const privacy = new PresencePrivacy(
    documents.collection('last_seen_visibility'),
    documents.collection('contacts'),
    documents.collection('blocks'),
  );
  const departures = new DeviceDepartures();
  const subscriptions = new PresenceSubscriptions(book, typing, privacy, reportError, departures);
  departures.endStreamsIn(subscriptions);
  book.onChange((presence) => subscriptions.presenceChanged(presence));
  const fanoutEvents = new FanoutEventsConsumer(book, privacy, (pairs) => {
    subscriptions
      .pairsChanged(pairs)
      .catch((error: unknown) => reportError(error, 'reviewing contacts failed'));
  });
  const directory = new DeviceDirectory(documents.collection('devices'));
  const sweepIntervalMs = Math.max(
    200,
    Math.min(1_000, (Math.min(timeoutSeconds, typingSeconds) * 1000) / 5),
  );

  return {
    name: 'presence',
    grpc: {
      package: 'tandem.presence.v1',
      definition: PresenceServiceService,
      serviceName: 'tandem.presence.v1.PresenceService',
    },
    module: {
      module: PresenceModule,
      controllers: [PresenceGrpcController],
      providers: [
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
        { provide: HEARTBEAT_INTERVAL_SECONDS, useValue: Math.max(1, Math.floor(timeoutSeconds / 3)) },
        ...deviceAuthProviders(deviceTokens(infrastructure), directory),
      ],
    },
    topics: [topic, typingTopic, fanoutTopic, accountsTopic, linkingTopic],
    endStreams: () => subscriptions.endAll(),
    workers: [
      restoreWorker({
        log: eventLog,
        topic,
        groupId: infrastructure.groupId('presence', `restore.${instanceId}`),
        instanceId,
        book,
        logger,
        clock,
        timeoutMs: RESTORE_TIMEOUT_MS,
      }),
      consumerWorker('presence.linking-events', eventLog, {
        groupId: infrastructure.groupId('presence', 'linking-events'),
        topic: linkingTopic.name,
        codec: deviceListEventCodec,
        handle: (received) => directory.apply(received),
      }),
      deviceDeparturesWorker('presence', infrastructure, instanceId, departures),
      consumerWorker('presence.accounts-events', eventLog, {
        groupId: infrastructure.groupId('presence', 'accounts-events'),
        topic: accountsTopic.name,
        codec: accountEventCodec,
        handle: async (received) => {
          if (received.event.$case === 'accountDeleted') {
            book.forget(received.event.value.accountId);
            await book.flush();
          }
          const changed = await privacy.apply(received);
          if (changed && 'account' in changed) await subscriptions.visibilityChanged(changed.account);
          if (changed && 'between' in changed) await subscriptions.pairsChanged([changed.between]);
        },
      }),
      batchConsumerWorker('presence.fanout-events', eventLog, {
        groupId: infrastructure.groupId('presence', 'fanout-events'),
        topic: fanoutTopic.name,
        onBatch: (batch) => fanoutEvents.applyBatch(batch),
      }),
      typing.worker(infrastructure.groupId('presence', `typing.${instanceId}`)),
      periodicWorker(
        'presence.sweep',
        sweepIntervalMs,
        async () => {
          book.sweep();
          typing.sweep();
          await book.flush();
        },
        (error) => reportError(error, 'presence sweep failed'),
      ),
    ],
  };
}
