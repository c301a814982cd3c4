import { FanoutServiceService } from '@tandem/contracts/tandem/fanout/v1/fanout_service';
import { blocksProjection } from '@tandem/accounts-events';
import { DeviceDepartures, deviceDeparturesWorker, deviceDirectoryProjection } from '@tandem/linking-events';

import type { TopicSpec } from '@tandem/messaging';
import { defineService, eventFeed, type ServiceContext } from '@tandem/runtime';
import { AcceptedSends } from './accepted-sends';
import { DeliveryReceiptBatcher } from './delivery-receipts';
import { DeviceListsProjection, deviceLists } from './device-lists.projection';
import {
  accountEventCodec,
  backupEventCodec,
  deviceListEventCodec,
  fanoutEventCodec,
  mediaEventCodec,
} from './fanout.codecs';
import { FanoutCommands, SEND_BLOCKS_CACHE_MS } from './fanout.commands';
import { FanoutGrpcController, SEND_RATE_LIMIT } from './fanout.grpc-controller';
import { FanoutLog } from './fanout-log';
import { expireInboxEntries } from './inbox-expiry';
import { InboxNotifications } from './inbox-notifications';
import { InboxSignals, SIGNALS_TOPIC } from './inbox-signals';
import { InboxStreams } from './inbox-streams';
import { InboxTiers } from './inbox-tiers';
import { inboxes } from './inboxes.projection';
import { InstanceConnections } from './instance-connections';
import { SystemEntries } from './system-entries.consumer';

/** How long signals are kept: they matter for moments only. */
const SIGNAL_RETENTION_MS = 60 * 60 * 1000;

/** How often an instance says it is alive (each time for INSTANCE_ALIVE_VALID_MS). */
const INSTANCE_ALIVE_INTERVAL_MS = 20_000;

/** Several instances tell each other about streams; one process alone needs no signals. */
const signalsTopic = ({ config }: ServiceContext): TopicSpec | undefined =>
  config.mode === 'distributed'
    ? {
        name: `${config.topicPrefix}${SIGNALS_TOPIC}`,
        partitions: config.topicPartitions,
        retentionMs: SIGNAL_RETENTION_MS,
      }
    : undefined;

const deviceDirectory = deviceDirectoryProjection('linking-events');
const blocks = blocksProjection('blocks', 'accounts-events', { cacheMs: SEND_BLOCKS_CACHE_MS });

/**
 * The fan-out service: accepts messages onto tandem.fanout.events, folds that topic into every
 * device's inbox and streams it to the device. It keeps its own device lists and device directory
 * from tandem.linking.events and who blocks whom from tandem.accounts.events, and turns profile,
 * settings, blocked-account, device-list, backup and history-bundle changes into system entries
 * for every device.
 */
export const fanoutService = defineService({
  name: 'fanout',
  grpc: FanoutServiceService,
  controllers: [FanoutGrpcController],
  payloads: [fanoutEventCodec],
  events: { payloadType: fanoutEventCodec.payloadType },
  topics: (service) => [signalsTopic(service)].filter((topic) => topic !== undefined),
  async build(service) {
    const { config, documents, eventLog, instanceId, logger } = service;
    const store = service.eventStore();
    const relay = service.relay();
    const topic = service.topic('fanout');
    const signalsSpec = signalsTopic(service);
    const signals = signalsSpec
      ? new InboxSignals(eventLog, signalsSpec.name, instanceId, logger)
      : undefined;
    const connections = new InstanceConnections(store, relay, instanceId, logger);
    const fanoutLog = new FanoutLog(eventLog, topic.name);
    const lists = service.projection(deviceLists);
    const blocked = service.projection(blocks);
    const receipts = new DeliveryReceiptBatcher(fanoutLog, lists);
    const departures = new DeviceDepartures();
    const tiers = new InboxTiers(documents.collection('inbox_heads'), documents.collection('inbox_entries'));
    const streams = new InboxStreams(tiers, connections, departures, signals);
    departures.endStreamsIn(streams);
    const notifier = new InboxNotifications(streams, receipts, signals);
    const projection = service.projection(inboxes, { tiers, notifier, partitions: topic.partitions });
    const accepted = new AcceptedSends(documents.collection('accepted_sends'));
    const commands = new FanoutCommands(store, fanoutLog, accepted, lists, blocked, projection, tiers, relay);
    const { requests: points, windowSeconds } = config.fanout.sendRateLimit;
    const rateLimits = await service.rateLimits();
    return {
      directory: service.projection(deviceDirectory),
      deviceLists: lists,
      blocks: blocked,
      connections,
      signals,
      receipts,
      departures,
      tiers,
      streams,
      inboxes: projection,
      commands,
      systemEntries: new SystemEntries(commands.inboxChanges, lists, [
        deviceListEventCodec,
        accountEventCodec,
        backupEventCodec,
        mediaEventCodec,
      ]),
      sendRate: rateLimits.limit({ name: 'send', what: 'messages from this device', points, windowSeconds }),
    };
  },
  projections: [deviceDirectory, deviceLists, blocks, inboxes],
  consumers: [
    {
      name: 'system-entries-of-device-lists',
      feed: eventFeed('linking', 'linking-events', deviceListEventCodec),
      handler: (parts) => parts.systemEntries,
    },
    {
      name: 'system-entries-of-accounts',
      feed: eventFeed('accounts', 'accounts-events', accountEventCodec),
      handler: (parts) => parts.systemEntries,
    },
    {
      name: 'system-entries-of-backups',
      feed: eventFeed('backups', 'backups-events', backupEventCodec),
      handler: (parts) => parts.systemEntries,
    },
    {
      name: 'system-entries-of-media',
      feed: eventFeed('media', 'media-events', mediaEventCodec),
      handler: (parts) => parts.systemEntries,
    },
  ],
  jobs: [
    {
      name: 'instance-alive',
      intervalMs: () => INSTANCE_ALIVE_INTERVAL_MS,
      atStart: true,
      run: ({ connections }) => connections.announceAlive(),
    },
    {
      name: 'inbox-expiry',
      intervalMs: (config) => config.fanout.expirySweepIntervalSeconds * 1000,
      run: ({ tiers, commands }, config) =>
        expireInboxEntries(
          tiers,
          commands.inboxChanges,
          config.fanout.inboxRetentionSeconds * 1000,
          new Date(),
        ),
    },
  ],
  providers: (parts) => [
    { provide: FanoutCommands, useValue: parts.commands },
    { provide: InboxStreams, useValue: parts.streams },
    { provide: InboxTiers, useValue: parts.tiers },
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
