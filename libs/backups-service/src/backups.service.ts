import { BackupsServiceService } from '@tandem/contracts/tandem/backups/v1/backups_service';
import { deviceDirectoryProjection } from '@tandem/linking-events';
import { defineService, eventFeed } from '@tandem/runtime';
import { AccountsEventsConsumer } from './accounts-events.consumer';
import { BackupListsProjection, backupLists } from './backup-lists.projection';
import { accountEventCodec, backupEventCodec } from './backups.codecs';
import { BackupCommands } from './backups.commands';
import { BackupsGrpcController } from './backups.grpc-controller';

const deviceDirectory = deviceDirectoryProjection('device-directory');

/**
 * The backups service: each account's backup list (event store and relay to
 * tandem.backups.events), the backup lists read model built from that topic, the consumer that
 * purges a deleted account's backups (tandem.accounts.events) and the device directory it
 * authenticates devices with (tandem.linking.events).
 */
export const backupsService = defineService({
  name: 'backups',
  grpc: BackupsServiceService,
  controllers: [BackupsGrpcController],
  payloads: [backupEventCodec],
  events: { payloadType: backupEventCodec.payloadType },
  build(service) {
    const commands = new BackupCommands(
      service.eventStore(),
      service.config.backups.retention,
      service.onAppended,
    );
    return {
      commands,
      lists: service.projection(backupLists),
      accountsEvents: new AccountsEventsConsumer(commands),
      directory: service.projection(deviceDirectory),
    };
  },
  projections: [backupLists, deviceDirectory],
  consumers: [
    {
      name: 'purge-deleted-accounts',
      feed: eventFeed('accounts', 'accounts-events', accountEventCodec),
      handler: (parts) => parts.accountsEvents,
    },
  ],
  jobs: [],
  providers: ({ commands, lists }) => [
    { provide: BackupCommands, useValue: commands },
    { provide: BackupListsProjection, useValue: lists },
  ],
  devices: ({ directory }) => directory,
});
