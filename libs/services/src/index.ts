import { accountsService } from '@tandem/accounts-app';
import { backupsService } from '@tandem/backups-app';
import { fanoutService } from '@tandem/fanout-app';
import { linkingService } from '@tandem/linking-app';
import { mediaService } from '@tandem/media-app';
import { presenceService } from '@tandem/presence-app';
import type { AnyServiceDefinition } from '@tandem/runtime';

/**
 * Every Tandem service, declared: what `npm start` runs in one process, and what the CLI's
 * replay walks for topics, consumer groups, projections and their collections.
 */
export const TANDEM_SERVICES: readonly AnyServiceDefinition[] = [
  accountsService,
  linkingService,
  fanoutService,
  presenceService,
  backupsService,
  mediaService,
];
