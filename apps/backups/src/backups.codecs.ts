import { AccountEvent } from '@tandem/contracts/tandem/accounts/v1/events';
import { BackupEvent } from '@tandem/contracts/tandem/backups/v1/events';
import type { BackupDomainEvent } from '@tandem/backups-domain';
import { oneofEventCodec } from '@tandem/event-sourcing';

export { deviceListEventCodec } from '@tandem/auth';

/** The backups service's own events, on tandem.backups.events, keyed by account id. */
export const backupEventCodec = oneofEventCodec<BackupDomainEvent>(
  'tandem.backups.v1.BackupEvent',
  BackupEvent,
);

/** The accounts service's events: a deleted account's backups are purged. */
export const accountEventCodec = oneofEventCodec<NonNullable<AccountEvent['event']>>(
  'tandem.accounts.v1.AccountEvent',
  AccountEvent,
);
