import { Module } from '@nestjs/common';
import { DeviceDepartures, DeviceDirectory } from '@tandem/auth';
import { randomUUID } from 'node:crypto';
import { CommandHandler } from '@tandem/event-sourcing';
import {
  type ConnectionCommand,
  connectionDecider,
  type ConnectionState,
  type FanoutDomainEvent,
} from '@tandem/fanout-domain';
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
import { InboxSignals } from './inbox-signals';
import { InboxStreams } from './inbox-streams';
import { InboxesProjection } from './inboxes.projection';
import { SystemEntries } from './system-entries.consumer';
import { FanoutServiceService } from '@tandem/contracts/tandem/fanout/v1/fanout_service';

@Module({})
class FanoutModule {}

/** How long signals are kept: they matter for moments only. */
const SIGNAL_RETENTION_MS = 60 * 60 * 1000;

/** How often an instance says it is alive, and for how long each time. */
const INSTANCE_ALIVE_INTERVAL_MS = 20_000;
const INSTANCE_ALIVE_VALID_MS = 60_000;

/** Says at start and then every interval that this instance, and so its connections, are alive. */
function instanceAliveWorker(
  connections: CommandHandler<ConnectionCommand, FanoutDomainEvent, ConnectionState>,
  instanceId: string,
  logger: Logger,
): Worker {
  const announce = async () => {
    await connections.handle(
      `instance-alive:${instanceId}:${randomUUID()}`,
      { type: 'AnnounceInstance', instanceId, validForMs: INSTANCE_ALIVE_VALID_MS, now: new Date() },
      { correlationId: randomUUID(), causationId: '' },
    );
  };
  const periodic = periodicWorker('fanout.instance-alive', INSTANCE_ALIVE_INTERVAL_MS, announce, (error) =>
    logger.error({ err: error }, 'announcing the instance failed'),
  );
  return {
    name: periodic.name,
    async start() {
      await announce();
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
  const connections = new CommandHandler(store, connectionDecider, fanoutEventCodec, {
    onAppended: () => relay.wake(),
  });
  const recordConnection = async (accountId: string, deviceId: number, connected: boolean) => {
    try {
      await connections.handle(
        `connection:${instanceId}:${accountId}:${deviceId}:${randomUUID()}`,
        { type: 'RecordConnection', device: { accountId, deviceId }, instanceId, connected, now: new Date() },
        { correlationId: randomUUID(), causationId: '' },
      );
    } catch (error) {
      logger.error({ err: error, accountId, deviceId }, 'recording a connection failed');
    }
  };
  // Several instances tell each other about streams; one process alone needs no signals.
  const signalsTopic: TopicSpec = {
    name: `${config.topicPrefix}tandem.fanout.signals`,
    partitions: config.topicPartitions,
    retentionMs: SIGNAL_RETENTION_MS,
  };
  const signals =
    config.mode === 'distributed' ? new InboxSignals(eventLog, signalsTopic.name, instanceId) : undefined;
  const reportSignalError = (error: unknown) =>
    logger.warn({ err: error }, 'publishing an inbox signal failed');

  const fanoutLog = new FanoutLog(eventLog, topic.name);
  const receipts = new DeliveryReceiptBatcher(fanoutLog, deviceLists);
  const departures = new DeviceDepartures();
  const streams: InboxStreams = new InboxStreams(
    { pendingAfter: (...args) => inboxes.pendingAfter(...args) },
    {
      onOpened: (accountId, deviceId, streamId, openedAt) =>
        void signals?.streamOpened(accountId, deviceId, streamId, openedAt).catch(reportSignalError),
      onConnected: (accountId, deviceId) => recordConnection(accountId, deviceId, true),
      onDisconnected: (accountId, deviceId) => recordConnection(accountId, deviceId, false),
    },
    departures,
  );
  departures.endStreamsIn(streams);
  const inboxes = new InboxesProjection(
    documents.collection('inbox_heads'),
    documents.collection('inbox_entries'),
    deviceLists,
    {
      appended: (appended) => {
        streams.appended(appended);
        void signals?.entriesAppended(appended).catch(reportSignalError);
      },
      acked: (acked) => receipts.add(acked),
      stored: (stored) => void signals?.entriesStored(stored).catch(reportSignalError),
    },
    'deferred',
    topic.partitions,
  );
  const accepted = new AcceptedSends(documents.collection('accepted_sends'));
  const commands = new FanoutCommands(store, fanoutLog, accepted, deviceLists, blocks, inboxes, () =>
    relay.wake(),
  );
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
      definition: FanoutServiceService,
      serviceName: 'tandem.fanout.v1.FanoutService',
    },
    module: {
      module: FanoutModule,
      controllers: [FanoutGrpcController],
      providers: [
        { provide: FanoutCommands, useValue: commands },
        { provide: InboxStreams, useValue: streams },
        { provide: InboxesProjection, useValue: inboxes },
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
      instanceAliveWorker(connections, instanceId, logger),
      periodicWorker(
        'fanout.inbox-expiry',
        config.fanout.expirySweepIntervalSeconds * 1000,
        async () => {
          await expireInboxEntries(
            inboxes,
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
