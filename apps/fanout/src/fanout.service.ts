import { Module } from '@nestjs/common';
import { DeviceDepartures, DeviceDirectory } from '@tandem/auth';
import { randomUUID } from 'node:crypto';
import type { TopicSpec } from '@tandem/messaging';
import type { Logger } from '@tandem/observability';
import {
  consumerWorker,
  type Infrastructure,
  periodicWorker,
  rateLimitSweeper,
  relayWorker,
  type TandemService,
  type Worker,
  deviceAuthProviders,
  deviceDeparturesWorker,
  deviceTokens,
  outboxRelay,
} from '@tandem/runtime';
import { AcceptedSends } from './accepted-sends';
import { BlocksProjection } from './blocks.projection';
import { DeviceListsProjection } from './device-lists.projection';
import { FanoutCommands } from './fanout.commands';
import {
  accountEventCodec,
  backupEventCodec,
  mediaEventCodec,
  deviceListEventCodec,
  fanoutEventCodec,
} from './fanout.codecs';
import { FanoutGrpcController, SEND_RATE_LIMIT } from './fanout.grpc-controller';
import { DeliveryReceiptBatcher } from './delivery-receipts';
import { FanoutLog } from './fanout-log';
import { expireInboxEntries } from './inbox-expiry';
import { inboxOwnerWorker } from './inbox-owner';
import { InboxNotifications } from './inbox-notifications';
import { InboxSignals } from './inbox-signals';
import { InboxStreams } from './inbox-streams';
import { InboxTiers } from './inbox-tiers';
import { InboxesProjection } from './inboxes.projection';
import { InstanceConnections } from './instance-connections';
import { SystemEntries } from './system-entries.consumer';

@Module({})
class FanoutModule {}

/** How long signals are kept: they matter for moments only. */
const SIGNAL_RETENTION_MS = 60 * 60 * 1000;

/** How often an instance says it is alive (each time for INSTANCE_ALIVE_VALID_MS). */
const INSTANCE_ALIVE_INTERVAL_MS = 20_000;

/** Says at start and then every interval that this instance, and so its connections, are alive. */
function instanceAliveWorker(connections: InstanceConnections, logger: Logger): Worker {
  const periodic = periodicWorker(
    'fanout.instance-alive',
    INSTANCE_ALIVE_INTERVAL_MS,
    () => connections.announceAlive(),
    (error) => logger.error({ err: error }, 'announcing the instance failed'),
  );
  return {
    name: periodic.name,
    async start() {
      await connections.announceAlive();
      await periodic.start();
    },
    stop: () => periodic.stop(),
  };
}

/**
 * The fan-out service: accepts messages and acks into its event store, relays them to
 * tandem.fanout.events, and projects that topic into every device's inbox, which it streams to
 * the device. It keeps its own device lists and device directory from tandem.linking.events, who
 * blocks whom from tandem.accounts.events, and turns profile, settings, blocked-account,
 * device-list and backup changes into system entries for every device.
 */
export async function fanoutService(infrastructure: Infrastructure): Promise<TandemService> {
  const { eventLog, logger, config } = infrastructure;
  const store = await infrastructure.eventStore('fanout');
  const documents = await infrastructure.documents('fanout');
  const topic = infrastructure.topic('fanout');
  const linkingTopic = infrastructure.topic('linking');
  const accountsTopic = infrastructure.topic('accounts');
  const backupsTopic = infrastructure.topic('backups');
  const mediaTopic = infrastructure.topic('media');

  const relay = outboxRelay(infrastructure, store, topic, fanoutEventCodec.payloadType);
  const directory = new DeviceDirectory(documents.collection('devices'));
  const deviceLists = new DeviceListsProjection(documents.collection('device_lists'));
  const blocks = new BlocksProjection(documents.collection('blocks'));
  const instanceId = randomUUID();
  const connections = new InstanceConnections(store, relay, instanceId, logger);
  // Several instances tell each other about streams; one process alone needs no signals.
  const signalsTopic: TopicSpec = {
    name: `${config.topicPrefix}tandem.fanout.signals`,
    partitions: config.topicPartitions,
    retentionMs: SIGNAL_RETENTION_MS,
  };
  const signals =
    config.mode === 'distributed'
      ? new InboxSignals(eventLog, signalsTopic.name, instanceId, logger)
      : undefined;

  const fanoutLog = new FanoutLog(eventLog, topic.name);
  const receipts = new DeliveryReceiptBatcher(fanoutLog, deviceLists);
  const departures = new DeviceDepartures();
  const tiers = new InboxTiers(documents.collection('inbox_heads'), documents.collection('inbox_entries'));
  const streams = new InboxStreams(tiers, connections, departures, signals);
  departures.endStreamsIn(streams);
  const notifications = new InboxNotifications(streams, receipts, signals);
  const inboxes = new InboxesProjection(tiers, notifications, 'deferred', topic.partitions);
  const accepted = new AcceptedSends(documents.collection('accepted_sends'));
  const commands = new FanoutCommands(store, fanoutLog, accepted, deviceLists, blocks, inboxes, tiers, relay);
  const systemEntries = new SystemEntries(commands.inboxChanges, deviceLists);
  const { requests: points, windowSeconds } = config.fanout.sendRateLimit;
  const rateLimits = await infrastructure.rateLimits('fanout');
  const sendRate = rateLimits.limit({
    name: 'send',
    what: 'messages from this device',
    points,
    windowSeconds,
  });
  const reportError = (what: string) => (error: unknown) => logger.error({ err: error }, what);

  return {
    name: 'fanout',
    grpc: {
      package: 'tandem.fanout.v1',
      protoFile: 'tandem/fanout/v1/fanout_service.proto',
      serviceName: 'tandem.fanout.v1.FanoutService',
    },
    module: {
      module: FanoutModule,
      controllers: [FanoutGrpcController],
      providers: [
        { provide: FanoutCommands, useValue: commands },
        { provide: InboxStreams, useValue: streams },
        { provide: InboxTiers, useValue: tiers },
        { provide: DeviceListsProjection, useValue: deviceLists },
        {
          provide: SEND_RATE_LIMIT,
          useValue: sendRate,
        },
        ...deviceAuthProviders(deviceTokens(infrastructure), directory),
      ],
    },
    topics: [
      topic,
      linkingTopic,
      accountsTopic,
      backupsTopic,
      mediaTopic,
      ...(signals ? [signalsTopic] : []),
    ],
    endStreams: () => streams.endAll(),
    workers: [
      relayWorker('fanout.relay', relay),
      rateLimitSweeper('fanout', rateLimits, infrastructure),
      consumerWorker('fanout.linking-events', eventLog, {
        groupId: infrastructure.groupId('fanout', 'linking-events'),
        topic: linkingTopic.name,
        codec: deviceListEventCodec,
        handle: async (received) => {
          await directory.apply(received);
          await deviceLists.apply(received);
          await systemEntries.apply(deviceListEventCodec, received);
        },
      }),
      deviceDeparturesWorker('fanout', infrastructure, instanceId, departures),
      consumerWorker('fanout.accounts-events', eventLog, {
        groupId: infrastructure.groupId('fanout', 'accounts-events'),
        topic: accountsTopic.name,
        codec: accountEventCodec,
        handle: async (received) => {
          await blocks.apply(received);
          await systemEntries.apply(accountEventCodec, received);
        },
      }),
      consumerWorker('fanout.backups-events', eventLog, {
        groupId: infrastructure.groupId('fanout', 'backups-events'),
        topic: backupsTopic.name,
        codec: backupEventCodec,
        handle: (received) => systemEntries.apply(backupEventCodec, received),
      }),
      consumerWorker('fanout.media-events', eventLog, {
        groupId: infrastructure.groupId('fanout', 'media-events'),
        topic: mediaTopic.name,
        codec: mediaEventCodec,
        handle: (received) => systemEntries.apply(mediaEventCodec, received),
      }),
      inboxOwnerWorker(eventLog, inboxes, {
        groupId: infrastructure.groupId('fanout', 'inboxes'),
        topic: topic.name,
        checkpointIntervalMs: config.fanout.checkpointIntervalMs,
        fanoutLog,
        logger,
      }),
      receipts.worker(config.fanout.receiptWindowMs, logger),
      ...(signals
        ? [signals.worker(infrastructure.groupId('fanout', `signals.${instanceId}`), streams)]
        : []),
      instanceAliveWorker(connections, logger),
      periodicWorker(
        'fanout.inbox-expiry',
        config.fanout.expirySweepIntervalSeconds * 1000,
        async () => {
          await expireInboxEntries(
            tiers,
            commands.inboxChanges,
            config.fanout.inboxRetentionSeconds * 1000,
            new Date(),
          );
        },
        reportError('inbox expiry sweep failed'),
      ),
    ],
  };
}
