import { accountsService } from '@tandem/accounts-service';
import { backupsService } from '@tandem/backups-service';
import { fanoutService } from '@tandem/fanout-service';
import { linkingService } from '@tandem/linking-service';
import { mediaService } from '@tandem/media-service';
import { presenceService } from '@tandem/presence-service';
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
