import { type BlocksProjection, blocksProjection } from '@tandem/accounts-events';
import {
  deviceDeparturesWorker,
  deviceDirectoryProjection,
  DeviceDepartures,
  type DeviceDirectory,
} from '@tandem/linking-events';
import { randomUUID } from 'node:crypto';
import { CommandHandler } from '@tandem/event-sourcing';
import { connectionDecider } from '@tandem/fanout-domain';
import type { RateLimit } from '@tandem/grpc';
import type { TopicSpec } from '@tandem/messaging';
import { defineConsumer, defineService, eventFeed, type ServiceContext } from '@tandem/runtime';
import { AcceptedSends } from './accepted-sends';
import { DeviceListsProjection, deviceLists } from './device-lists.projection';
import { FanoutCommands, SEND_BLOCKS_CACHE_MS } from './fanout.commands';
import {
  accountEventCodec,
  backupEventCodec,
  deviceListEventCodec,
  fanoutEventCodec,
  mediaEventCodec,
} from './fanout.codecs';
import { FanoutGrpcController, SEND_RATE_LIMIT } from './fanout.grpc-controller';
import { InstanceAlive } from './instance-alive';
import { DeliveryReceiptBatcher } from './delivery-receipts';
import { FanoutLog } from './fanout-log';
import { expireInboxEntries } from './inbox-expiry';
import { InboxSignals } from './inbox-signals';
import { InboxStreams } from './inbox-streams';
import { inboxes, InboxesProjection } from './inboxes.projection';
import { SystemEntries } from './system-entries.consumer';

/** How long signals are kept: they matter for moments only. */
const SIGNAL_RETENTION_MS = 60 * 60 * 1000;

/** Several instances tell each other about streams; one process alone needs no signals. */
const signalsTopic = ({ config }: ServiceContext): TopicSpec | undefined =>
  config.mode === 'distributed'
    ? {
        name: `${config.topicPrefix}tandem.fanout.signals`,
        partitions: config.topicPartitions,
        retentionMs: SIGNAL_RETENTION_MS,
      }
    : undefined;

const deviceDirectory = deviceDirectoryProjection('linking-events');
const blocks = blocksProjection('blocks', 'accounts-events', { cacheMs: SEND_BLOCKS_CACHE_MS });

interface FanoutParts {
  readonly directory: DeviceDirectory;
  readonly deviceLists: DeviceListsProjection;
  readonly blocks: BlocksProjection;
  readonly instanceAlive: InstanceAlive;
  readonly signals: InboxSignals | undefined;
  readonly receipts: DeliveryReceiptBatcher;
  readonly departures: DeviceDepartures;
  readonly streams: InboxStreams;
  readonly inboxes: InboxesProjection;
  readonly commands: FanoutCommands;
  readonly systemEntries: SystemEntries;
  readonly sendRate: RateLimit;
}

/**
 * The fan-out service: accepts messages and acks into its event store, relays them to
 * tandem.fanout.events, and projects that topic into every device's inbox, which it streams to
 * the device. It keeps its own device lists and device directory from tandem.linking.events, who
 * blocks whom from tandem.accounts.events, and turns profile, settings, blocked-account,
 * device-list, backup and history-bundle changes into system entries for every device.
 */
export const fanoutService = defineService<FanoutParts>({
  name: 'fanout',
  grpc: {
    package: 'tandem.fanout.v1',
    protoFile: 'tandem/fanout/v1/fanout_service.proto',
    serviceName: 'tandem.fanout.v1.FanoutService',
  },
  controllers: [FanoutGrpcController],
  events: { payloadType: fanoutEventCodec.payloadType },
  topics: (service) => [signalsTopic(service)].filter((topic) => topic !== undefined),
  projections: [deviceDirectory, deviceLists, blocks, inboxes],
  consumers: [
    defineConsumer({
      name: 'system-entries-of-device-lists',
      feed: eventFeed('linking', 'linking-events', deviceListEventCodec),
      handler: (parts: FanoutParts) => parts.systemEntries.of(deviceListEventCodec),
    }),
    defineConsumer({
      name: 'system-entries-of-accounts',
      feed: eventFeed('accounts', 'accounts-events', accountEventCodec),
      handler: (parts: FanoutParts) => parts.systemEntries.of(accountEventCodec),
    }),
    defineConsumer({
      name: 'system-entries-of-backups',
      feed: eventFeed('backups', 'backups-events', backupEventCodec),
      handler: (parts: FanoutParts) => parts.systemEntries.of(backupEventCodec),
    }),
    defineConsumer({
      name: 'system-entries-of-media',
      feed: eventFeed('media', 'media-events', mediaEventCodec),
      handler: (parts: FanoutParts) => parts.systemEntries.of(mediaEventCodec),
    }),
  ],
  jobs: [
    {
      name: 'instance-alive',
      intervalMs: () => InstanceAlive.INTERVAL_MS,
      atStart: true,
      run: ({ instanceAlive }) => instanceAlive.announce(),
    },
    {
      name: 'inbox-expiry',
      intervalMs: (config) => config.fanout.expirySweepIntervalSeconds * 1000,
      run: ({ inboxes, commands }, config) =>
        expireInboxEntries(
          inboxes,
          commands.inboxChanges,
          config.fanout.inboxRetentionSeconds * 1000,
          new Date(),
        ),
    },
  ],
  async build(service) {
    const { config, eventLog, instanceId, logger } = service;
    const store = service.eventStore();
    const topic = service.topic('fanout').name;
    const signalsSpec = signalsTopic(service);
    const signals = signalsSpec ? new InboxSignals(eventLog, signalsSpec.name, instanceId) : undefined;
    const connections = new CommandHandler(store, connectionDecider, fanoutEventCodec, {
      onAppended: service.onAppended,
    });
    const recordConnection = async (accountId: string, deviceId: number, connected: boolean) => {
      try {
        await connections.handle(
          `connection:${instanceId}:${accountId}:${deviceId}:${randomUUID()}`,
          {
            type: 'RecordConnection',
            device: { accountId, deviceId },
            instanceId,
            connected,
            now: new Date(),
          },
          { correlationId: randomUUID(), causationId: '' },
        );
      } catch (error) {
        logger.error({ err: error, accountId, deviceId }, 'recording a connection failed');
      }
    };
    const reportSignalError = (error: unknown) =>
      logger.warn({ err: error }, 'publishing an inbox signal failed');
    const fanoutLog = new FanoutLog(eventLog, topic);
    const lists = service.projection(deviceLists);
    const departures = new DeviceDepartures();
    const receipts = new DeliveryReceiptBatcher(fanoutLog, lists);
    const streams: InboxStreams = new InboxStreams(
      { pendingAfter: (...args) => projection.pendingAfter(...args) },
      {
        onOpened: (accountId, deviceId, streamId, openedAt) =>
          void signals?.streamOpened(accountId, deviceId, streamId, openedAt).catch(reportSignalError),
        onConnected: (accountId, deviceId) => recordConnection(accountId, deviceId, true),
        onDisconnected: (accountId, deviceId) => recordConnection(accountId, deviceId, false),
      },
      departures,
    );
    departures.endStreamsIn(streams);
    const projection: InboxesProjection = service.projection(inboxes, {
      listener: {
        appended: (appended) => {
          streams.appended(appended);
          void signals?.entriesAppended(appended).catch(reportSignalError);
        },
        acked: (acked) => receipts.add(acked),
        stored: (stored) => void signals?.entriesStored(stored).catch(reportSignalError),
      },
      partitions: service.topic('fanout').partitions,
    });
    const blocksProjection = service.projection(blocks);
    const commands = new FanoutCommands(
      store,
      fanoutLog,
      new AcceptedSends(service.documents.collection('accepted_sends')),
      lists,
      blocksProjection,
      projection,
      service.onAppended,
    );
    const { requests: points, windowSeconds } = config.fanout.sendRateLimit;
    const rateLimits = await service.rateLimits();
    return {
      directory: service.projection(deviceDirectory),
      deviceLists: lists,
      blocks: blocksProjection,
      instanceAlive: new InstanceAlive(connections, instanceId),
      signals,
      receipts,
      departures,
      streams,
      inboxes: projection,
      commands,
      systemEntries: new SystemEntries(commands.inboxChanges, lists),
      sendRate: rateLimits.limit({ name: 'send', what: 'messages from this device', points, windowSeconds }),
    };
  },
  providers: (parts) => [
    { provide: FanoutCommands, useValue: parts.commands },
    { provide: InboxStreams, useValue: parts.streams },
    { provide: InboxesProjection, useValue: parts.inboxes },
    { provide: DeviceListsProjection, useValue: parts.deviceLists },
    { provide: SEND_RATE_LIMIT, useValue: parts.sendRate },
  ],
  devices: ({ directory }) => directory,
  workers: ({ receipts, signals, streams, departures }, service) => [
    deviceDeparturesWorker(service, departures),
    receipts.worker(service.config.fanout.receiptWindowMs, service.logger),
    ...(signals ? [signals.worker(service.groupId(`signals.${service.instanceId}`), streams)] : []),
  ],
  endStreams: ({ streams }) => streams.endAll(),
});
