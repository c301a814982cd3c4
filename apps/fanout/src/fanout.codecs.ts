import { AccountEvent } from '@tandem/contracts/tandem/accounts/v1/events';
import { BackupEvent } from '@tandem/contracts/tandem/backups/v1/events';
import { FanoutEvent } from '@tandem/contracts/tandem/fanout/v1/events';
import { MediaEvent } from '@tandem/contracts/tandem/media/v1/events';
import { oneofEventCodec } from '@tandem/event-sourcing';
import type { FanoutDomainEvent } from '@tandem/fanout-domain';

export { deviceListEventCodec } from '@tandem/auth';

/** The fanout service's own events, on tandem.fanout.events, keyed by the account whose inboxes change. */
export const fanoutEventCodec = oneofEventCodec<FanoutDomainEvent>(
  'tandem.fanout.v1.FanoutEvent',
  FanoutEvent,
);

/** The accounts service's events: profile and settings changes reach every device as system entries. */
export const accountEventCodec = oneofEventCodec<NonNullable<AccountEvent['event']>>(
  'tandem.accounts.v1.AccountEvent',
  AccountEvent,
);

/** The backups service's events: a recorded backup reaches every device as a system entry. */
export const backupEventCodec = oneofEventCodec<NonNullable<BackupEvent['event']>>(
  'tandem.backups.v1.BackupEvent',
  BackupEvent,
);

/** The media service's events: a history bundle reaches the companion it is for as a system entry. */
export const mediaEventCodec = oneofEventCodec<NonNullable<MediaEvent['event']>>(
  'tandem.media.v1.MediaEvent',
  MediaEvent,
);
