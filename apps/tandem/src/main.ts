// First: instruments gRPC, kafkajs, MongoDB and pino before anything loads them.
import '@tandem/observability/instrumentation';
import { accountsService } from '@tandem/accounts-app';
import { backupsService } from '@tandem/backups-app';
import { fanoutService } from '@tandem/fanout-app';
import { linkingService } from '@tandem/linking-app';
import { mediaService } from '@tandem/media-app';
import { presenceService } from '@tandem/presence-app';
import { main } from '@tandem/runtime';

/** Every Tandem service in one process behind one gRPC port: `npm start`. */
main('tandem', [
  accountsService,
  linkingService,
  fanoutService,
  presenceService,
  backupsService,
  mediaService,
]);
