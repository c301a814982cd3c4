import { AccountEvent } from '@tandem/contracts/tandem/accounts/v1/events';
import { BackupEvent } from '@tandem/contracts/tandem/backups/v1/events';
import { MediaEvent } from '@tandem/contracts/tandem/media/v1/events';
import type { MediaDomainEvent } from '@tandem/media-domain';
import { oneofEventCodec } from '@tandem/event-sourcing';

export { deviceListEventCodec } from '@tandem/auth';

/** The accounts service's events: blocks, and deleted accounts whose media are purged. */
export const accountEventCodec = oneofEventCodec<NonNullable<AccountEvent['event']>>(
  'tandem.accounts.v1.AccountEvent',
  AccountEvent,
);

/** The media service's own events, on tandem.media.events, keyed by the uploading account's id. */
export const mediaEventCodec = oneofEventCodec<MediaDomainEvent>('tandem.media.v1.MediaEvent', MediaEvent);

/** The backups service's events: the media kept backups reference. */
export const backupEventCodec = oneofEventCodec<NonNullable<BackupEvent['event']>>(
  'tandem.backups.v1.BackupEvent',
  BackupEvent,
);
