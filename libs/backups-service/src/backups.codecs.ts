import { BackupEvent } from '@tandem/contracts/tandem/backups/v1/events';
import type { BackupDomainEvent } from '@tandem/backups-domain';
import { oneofEventCodec } from '@tandem/event-sourcing';

// The accounts service's events: a deleted account's backups are purged.
export { accountEventCodec } from '@tandem/accounts-events';
export { deviceListEventCodec } from '@tandem/linking-events';

/** The backups service's own events, on tandem.backups.events, keyed by account id. */
export const backupEventCodec = oneofEventCodec<BackupDomainEvent>(
  'tandem.backups.v1.BackupEvent',
  BackupEvent,
);
