import { Module } from '@nestjs/common';
import {
  DEVICE_AUTHENTICATOR,
  DeviceAuthenticator,
  DeviceAuthGuard,
  DeviceDirectory,
  DeviceTokens,
  loadTokenKeys,
} from '@tandem/auth';
import { OutboxRelay, toRecord } from '@tandem/event-sourcing';
import { RateLimit } from '@tandem/grpc';
import {
  batchConsumerWorker,
  consumerWorker,
  type Infrastructure,
  periodicWorker,
  RELAY_IDLE_POLL_MS,
  relayWorker,
  type TandemService,
} from '@tandem/runtime';
import { DeviceListsProjection } from './device-lists.projection';
import { FanoutCommands } from './fanout.commands';
import { accountEventCodec, deviceListEventCodec, fanoutEventCodec } from './fanout.codecs';
import { FanoutGrpcController, SEND_RATE_LIMIT } from './fanout.grpc-controller';
import { expireInboxEntries } from './inbox-expiry';
import { InboxStreams } from './inbox-streams';
import { InboxesProjection } from './inboxes.projection';
import { SystemEntries } from './system-entries.consumer';

@Module({})
class FanoutModule {}

/**
 * The fan-out service: accepts messages and acks into its event store, relays them to
 * tandem.fanout.events, and projects that topic into every device's inbox, which it streams to
 * the device. It keeps its own device lists and device directory from tandem.linking.events and
 * turns profile, settings and device-list changes into system entries for every device.
 */
export async function fanoutService(infrastructure: Infrastructure): Promise<TandemService> {
  const { eventLog, logger, config } = infrastructure;
  const store = await infrastructure.eventStore('fanout');
  const documents = await infrastructure.documents('fanout');
  const topic = infrastructure.topic('fanout');
  const linkingTopic = infrastructure.topic('linking');
  const accountsTopic = infrastructure.topic('accounts');

  const relay = new OutboxRelay({
    store,
    log: eventLog,
    topic: topic.name,
    encode: (event) => toRecord(event, fanoutEventCodec.payloadType),
    idleIntervalMs: RELAY_IDLE_POLL_MS,
    onError: (message, error, context) => logger.error({ err: error, ...context }, message),
  });
  const directory = new DeviceDirectory(documents.collection('devices'));
  const deviceLists = new DeviceListsProjection(documents.collection('device_lists'));
  const streams: InboxStreams = new InboxStreams({
    async pendingAfter(accountId, deviceId, afterSequence, limit) {
      const head = await inboxes.head(accountId);
      const inbox = head?.inboxes.find((known) => known.deviceId === deviceId);
      const sequences = (inbox?.pending ?? [])
        .filter((entry) => entry.sequence > afterSequence)
        .slice(0, limit)
        .map((entry) => entry.sequence);
      return sequences.length === 0 ? [] : inboxes.entriesOf(accountId, deviceId, sequences);
    },
  });
  const inboxes = new InboxesProjection(
    documents.collection('inbox_heads'),
    documents.collection('inbox_entries'),
    deviceLists,
    (appended) => streams.appended(appended),
  );
  const commands = new FanoutCommands(store, deviceLists, inboxes, () => relay.wake());
  const systemEntries = new SystemEntries(commands.inboxChanges);
  const { requests, windowSeconds } = config.fanout.sendRateLimit;
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
        { provide: InboxesProjection, useValue: inboxes },
        { provide: DeviceListsProjection, useValue: deviceLists },
        {
          provide: SEND_RATE_LIMIT,
          useValue: new RateLimit('messages from this device', requests, windowSeconds),
        },
        {
          provide: DEVICE_AUTHENTICATOR,
          useValue: new DeviceAuthenticator(
            new DeviceTokens(loadTokenKeys(config), config.tokens.ttlSeconds),
            directory,
          ),
        },
        DeviceAuthGuard,
      ],
    },
    topics: [topic, linkingTopic, accountsTopic],
    endStreams: () => streams.endAll(),
    workers: [
      relayWorker('fanout.relay', relay),
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
      consumerWorker('fanout.accounts-events', eventLog, {
        groupId: infrastructure.groupId('fanout', 'accounts-events'),
        topic: accountsTopic.name,
        codec: accountEventCodec,
        handle: (received) => systemEntries.apply(accountEventCodec, received),
      }),
      batchConsumerWorker('fanout.inboxes', eventLog, {
        groupId: infrastructure.groupId('fanout', 'inboxes'),
        topic: topic.name,
        onBatch: (batch) => inboxes.applyBatch(batch),
      }),
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
