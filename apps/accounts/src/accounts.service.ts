import { Module } from '@nestjs/common';
import { DeviceDirectory, deviceListEventCodec } from '@tandem/auth';
import {
  consumerWorker,
  type Infrastructure,
  relayWorker,
  type TandemService,
  deviceAuthProviders,
  deviceTokens,
  outboxRelay,
} from '@tandem/runtime';
import { accountEventCodec } from './accounts.codec';
import { AccountCommands } from './accounts.commands';
import { AccountsGrpcController } from './accounts.grpc-controller';
import { AccountsReadModel } from './accounts-read-model.projection';
import { AccountsServiceService } from '@tandem/contracts/tandem/accounts/v1/accounts_service';

@Module({})
class AccountsModule {}

/**
 * The accounts service: its event store and relay to tandem.accounts.events, the accounts read
 * model, and the device directory it authenticates devices with (from tandem.linking.events).
 */
export async function accountsService(infrastructure: Infrastructure): Promise<TandemService> {
  const { eventLog } = infrastructure;
  const store = await infrastructure.eventStore('accounts');
  const documents = await infrastructure.documents('accounts');
  const topic = infrastructure.topic('accounts');
  const linkingTopic = infrastructure.topic('linking');

  const relay = outboxRelay(infrastructure, store, topic, accountEventCodec.payloadType);
  const commands = new AccountCommands(store, () => relay.wake());
  const readModel = new AccountsReadModel(
    documents.collection('accounts'),
    documents.collection('phone_numbers'),
  );
  const directory = new DeviceDirectory(documents.collection('devices'));

  return {
    name: 'accounts',
    grpc: {
      package: 'tandem.accounts.v1',
      definition: AccountsServiceService,
      serviceName: 'tandem.accounts.v1.AccountsService',
    },
    module: {
      module: AccountsModule,
      controllers: [AccountsGrpcController],
      providers: [
        { provide: AccountCommands, useValue: commands },
        { provide: AccountsReadModel, useValue: readModel },
        ...deviceAuthProviders(deviceTokens(infrastructure), directory),
      ],
    },
    topics: [topic, linkingTopic],
    workers: [
      relayWorker('accounts.relay', relay),
      consumerWorker('accounts.read-model', eventLog, {
        groupId: infrastructure.groupId('accounts', 'read-model'),
        topic: topic.name,
        codec: accountEventCodec,
        handle: (received) => readModel.apply(received),
      }),
      consumerWorker('accounts.device-directory', eventLog, {
        groupId: infrastructure.groupId('accounts', 'device-directory'),
        topic: linkingTopic.name,
        codec: deviceListEventCodec,
        handle: (received) => directory.apply(received),
      }),
    ],
  };
}
