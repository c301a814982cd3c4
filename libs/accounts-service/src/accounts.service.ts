import { AccountsServiceService } from '@tandem/contracts/tandem/accounts/v1/accounts_service';
import { deviceDirectoryProjection } from '@tandem/linking-events';
import { defineService } from '@tandem/runtime';
import { accountEventCodec } from './accounts.codec';
import { AccountCommands } from './accounts.commands';
import { AccountsGrpcController } from './accounts.grpc-controller';
import { AccountsReadModel, accountsReadModel } from './accounts-read-model.projection';

const deviceDirectory = deviceDirectoryProjection('device-directory');

/**
 * The accounts service: its event store and relay to tandem.accounts.events, the accounts read
 * model, and the device directory it authenticates devices with (from tandem.linking.events).
 */
export const accountsService = defineService({
  name: 'accounts',
  grpc: AccountsServiceService,
  controllers: [AccountsGrpcController],
  payloads: [accountEventCodec],
  events: { payloadType: accountEventCodec.payloadType },
  build: (service) => ({
    commands: new AccountCommands(service.eventStore(), service.onAppended),
    readModel: service.projection(accountsReadModel),
    directory: service.projection(deviceDirectory),
  }),
  projections: [accountsReadModel, deviceDirectory],
  consumers: [],
  jobs: [],
  providers: ({ commands, readModel }) => [
    { provide: AccountCommands, useValue: commands },
    { provide: AccountsReadModel, useValue: readModel },
  ],
  devices: ({ directory }) => directory,
});
