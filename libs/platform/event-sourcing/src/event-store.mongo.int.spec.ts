import { testInfrastructure, uniqueName } from '@tandem/testing';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll } from 'vitest';
import { describeEventStoreContract } from './event-store.contract';
import { MongoEventStore } from './event-store.mongo';

let client: MongoClient;

beforeAll(async () => {
  client = await MongoClient.connect(testInfrastructure().mongoUri);
});

afterAll(async () => {
  await client.close();
});

describeEventStoreContract('MongoDB', async () => {
  const db = client.db(uniqueName('event_store'));
  return {
    open: (options) => MongoEventStore.open(db, options),
    dispose: async () => {
      await db.dropDatabase();
    },
  };
});
