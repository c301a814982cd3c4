import { AccountEvent } from '@tandem/contracts/tandem/accounts/v1/events';
import { oneofEventCodec } from '@tandem/event-sourcing';

export type AccountDomainEvent = NonNullable<AccountEvent['event']>;

/**
 * The accounts service's events on tandem.accounts.events, keyed by account id: what the accounts
 * service appends and every other service decodes.
 */
export const accountEventCodec = oneofEventCodec<AccountDomainEvent>(
  'tandem.accounts.v1.AccountEvent',
  AccountEvent,
);
