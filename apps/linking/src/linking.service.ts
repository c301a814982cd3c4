import { Module } from '@nestjs/common';
import {
  DEVICE_AUTHENTICATOR,
  DeviceAuthenticator,
  DeviceAuthGuard,
  DeviceDirectory,
  DeviceTokens,
  loadTokenKeys,
} from '@tandem/auth';
import { CommandHandler, OutboxRelay, toRecord } from '@tandem/event-sourcing';
import { deviceListDecider } from '@tandem/linking-domain';
import { consumerWorker, type Infrastructure, relayWorker, type TandemService } from '@tandem/runtime';
import { AccountsEventsConsumer } from './accounts-events.consumer';
import { DEVICE_LISTS, LinkingGrpcController } from './linking.grpc-controller';
import { accountEventCodec, deviceListEventCodec } from './linking.codecs';
import { SignIn } from './sign-in';

@Module({})
class LinkingModule {}

/**
 * The linking service: every account's device list (event store and relay to
 * tandem.linking.events), device sign-in, the device directory it authenticates with, and the
 * consumer that starts and ends device lists from tandem.accounts.events.
 */
export async function linkingService(infrastructure: Infrastructure): Promise<TandemService> {
  const { eventLog, logger, config } = infrastructure;
  const store = await infrastructure.eventStore('linking');
  const documents = await infrastructure.documents('linking');
  const topic = infrastructure.topic('linking');
  const accountsTopic = infrastructure.topic('accounts');

  const relay = new OutboxRelay({
    store,
    log: eventLog,
    topic: topic.name,
    encode: (event) => toRecord(event, deviceListEventCodec.payloadType),
    onError: (message, error, context) => logger.error({ err: error, ...context }, message),
  });
  const deviceLists = new CommandHandler(store, deviceListDecider, deviceListEventCodec, {
    onAppended: () => relay.wake(),
  });
  const tokens = new DeviceTokens(loadTokenKeys(config), config.tokens.ttlSeconds);
  const directory = new DeviceDirectory(documents.collection('devices'));
  const accountsEvents = new AccountsEventsConsumer(deviceLists);

  return {
    name: 'linking',
    grpc: {
      package: 'tandem.linking.v1',
      protoFile: 'tandem/linking/v1/linking_service.proto',
      serviceName: 'tandem.linking.v1.LinkingService',
    },
    module: {
      module: LinkingModule,
      controllers: [LinkingGrpcController],
      providers: [
        { provide: SignIn, useValue: new SignIn(deviceLists, tokens) },
        { provide: DEVICE_LISTS, useValue: deviceLists },
        { provide: DEVICE_AUTHENTICATOR, useValue: new DeviceAuthenticator(tokens, directory) },
        DeviceAuthGuard,
      ],
    },
    topics: [topic, accountsTopic],
    workers: [
      relayWorker('linking.relay', relay),
      consumerWorker('linking.accounts-events', eventLog, {
        groupId: infrastructure.groupId('linking', 'accounts-events'),
        topic: accountsTopic.name,
        codec: accountEventCodec,
        handle: (received) => accountsEvents.apply(received),
      }),
      consumerWorker('linking.device-directory', eventLog, {
        groupId: infrastructure.groupId('linking', 'device-directory'),
        topic: topic.name,
        codec: deviceListEventCodec,
        handle: (received) => directory.apply(received),
      }),
    ],
  };
}
