// First: instruments gRPC, kafkajs, MongoDB and pino before anything loads them.
import '@tandem/observability/instrumentation';
import { main } from '@tandem/runtime';
import { accountsService } from '@tandem/accounts-service';

main('accounts', [accountsService]);
