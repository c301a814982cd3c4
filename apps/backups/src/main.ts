// First: instruments gRPC, kafkajs, MongoDB and pino before anything loads them.
import '@tandem/observability/instrumentation';
import { main } from '@tandem/runtime';
import { backupsService } from '@tandem/backups-service';

main('backups', [backupsService]);
