import { KafkaEventLog, type KafkaLogger } from '@tandem/messaging';
import { testInfrastructure, uniqueName } from '@tandem/testing';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll } from 'vitest';
import { MongoEventStore } from './event-store.mongo';
import { describeOutboxRelayContract } from './outbox-relay.contract';

const ignore = (): void => undefined;
const kafkaErrorsOnly: KafkaLogger = {
  error: (fields, message) => console.error(message, fields),
  warn: ignore,
  info: ignore,
  debug: ignore,
};

let client: MongoClient;

beforeAll(async () => {
  client = await MongoClient.connect(testInfrastructure().mongoUri);
});

afterAll(async () => {
  await client.close();
});

describeOutboxRelayContract('MongoDB and Kafka', async () => {
  const db = client.db(uniqueName('relay'));
  const store = await MongoEventStore.open(db);
  const log = new KafkaEventLog({
    brokers: testInfrastructure().kafkaBrokers,
    clientId: uniqueName('relay-test'),
    logger: kafkaErrorsOnly,
    retryBackoff: { initialMs: 100, maxMs: 1_000 },
  });
  return {
    store,
    log,
    name: uniqueName,
    deliveryTimeoutMs: 30_000,
    dispose: async () => {
      await log.close();
      await db.dropDatabase();
    },
  };
});
