import { AccountEvent } from '@tandem/contracts/tandem/accounts/v1/events';
import type { AccountDomainEvent } from '@tandem/accounts-domain';
import { oneofEventCodec } from '@tandem/event-sourcing';

export const accountEventCodec = oneofEventCodec<AccountDomainEvent>(
  'tandem.accounts.v1.AccountEvent',
  AccountEvent,
);
