import { AccountEvent } from '@tandem/contracts/tandem/accounts/v1/events';
import { oneofEventCodec } from '@tandem/event-sourcing';

export { deviceListEventCodec } from '@tandem/auth';

/** The accounts service's events, which start and end device lists. */
export const accountEventCodec = oneofEventCodec<NonNullable<AccountEvent['event']>>(
  'tandem.accounts.v1.AccountEvent',
  AccountEvent,
);
