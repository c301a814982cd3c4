export { accountsService } from './accounts.service';
export { accountEventCodec } from './accounts.codec';
export { type AccountRecord, AccountsReadModel } from './accounts-read-model.projection';
