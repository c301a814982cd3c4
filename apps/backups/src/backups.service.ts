import { Module } from '@nestjs/common';
import { DeviceDirectory } from '@tandem/auth';
import {
  consumerWorker,
  type Infrastructure,
  relayWorker,
  type TandemService,
  deviceAuthProviders,
  deviceTokens,
  outboxRelay,
} from '@tandem/runtime';
import { AccountsEventsConsumer } from './accounts-events.consumer';
import { BackupListsProjection } from './backup-lists.projection';
import { accountEventCodec, backupEventCodec, deviceListEventCodec } from './backups.codecs';
import { BackupCommands } from './backups.commands';
import { BackupsGrpcController } from './backups.grpc-controller';
import { BackupsServiceService } from '@tandem/contracts/tandem/backups/v1/backups_service';

@Module({})
class BackupsModule {}

/**
 * The backups service: each account's backup list (event store and relay to
 * tandem.backups.events), the backup lists read model built from that topic, the consumer that
 * purges a deleted account's backups (tandem.accounts.events) and the device directory it
 * authenticates devices with (tandem.linking.events).
 */
export async function backupsService(infrastructure: Infrastructure): Promise<TandemService> {
  const { eventLog, config } = infrastructure;
  const store = await infrastructure.eventStore('backups');
  const documents = await infrastructure.documents('backups');
  const topic = infrastructure.topic('backups');
  const accountsTopic = infrastructure.topic('accounts');
  const linkingTopic = infrastructure.topic('linking');

  const relay = outboxRelay(infrastructure, store, topic, backupEventCodec.payloadType);
  const commands = new BackupCommands(store, config.backups.retention, () => relay.wake());
  const lists = new BackupListsProjection(documents.collection('backup_lists'));
  const accountsEvents = new AccountsEventsConsumer(commands);
  const directory = new DeviceDirectory(documents.collection('devices'));

  return {
    name: 'backups',
    grpc: {
      package: 'tandem.backups.v1',
      definition: BackupsServiceService,
      serviceName: 'tandem.backups.v1.BackupsService',
    },
    module: {
      module: BackupsModule,
      controllers: [BackupsGrpcController],
      providers: [
        { provide: BackupCommands, useValue: commands },
        { provide: BackupListsProjection, useValue: lists },
        ...deviceAuthProviders(deviceTokens(infrastructure), directory),
      ],
    },
    topics: [topic, accountsTopic, linkingTopic],
    workers: [
      relayWorker('backups.relay', relay),
      consumerWorker('backups.backup-lists', eventLog, {
        groupId: infrastructure.groupId('backups', 'backup-lists'),
        topic: topic.name,
        codec: backupEventCodec,
        handle: (received) => lists.apply(received),
      }),
      consumerWorker('backups.accounts-events', eventLog, {
        groupId: infrastructure.groupId('backups', 'accounts-events'),
        topic: accountsTopic.name,
        codec: accountEventCodec,
        handle: (received) => accountsEvents.apply(received),
      }),
      consumerWorker('backups.device-directory', eventLog, {
        groupId: infrastructure.groupId('backups', 'device-directory'),
        topic: linkingTopic.name,
        codec: deviceListEventCodec,
        handle: (received) => directory.apply(received),
      }),
    ],
  };
}
