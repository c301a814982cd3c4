// First: instruments gRPC, kafkajs, MongoDB and pino before anything loads them.
import '@tandem/observability/instrumentation';
import { main } from '@tandem/runtime';
import { TANDEM_SERVICES } from '@tandem/services';

/** Every Tandem service in one process behind one gRPC port: `npm start`. */
main('tandem', TANDEM_SERVICES);
