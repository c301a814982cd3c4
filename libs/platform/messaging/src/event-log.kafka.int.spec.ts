import { testInfrastructure, uniqueName } from '@tandem/testing';
import { describeEventLogContract } from './event-log.contract';
import { KafkaEventLog, type KafkaLogger } from './event-log.kafka';

const ignore = (): void => undefined;
/** kafkajs's errors on stderr; what it retries by itself (rebalances) is logged below ERROR and dropped. */
const testLogger: KafkaLogger = {
  error: (fields, message) => console.error(message, fields),
  warn: ignore,
  info: ignore,
  debug: ignore,
};

describeEventLogContract('Kafka', async () => ({
  open: async () =>
    new KafkaEventLog({
      brokers: testInfrastructure().kafkaBrokers,
      clientId: uniqueName('test'),
      logger: testLogger,
      retryBackoff: { initialMs: 100, maxMs: 1_000 },
      onError: ignore,
    }),
  name: (prefix) => uniqueName(prefix),
  deliveryTimeoutMs: 30_000,
  dispose: async () => undefined,
}));
