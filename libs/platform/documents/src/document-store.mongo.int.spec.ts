import { testInfrastructure, uniqueName } from '@tandem/testing';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeDocumentStoreContract } from './document-store.contract';
import { MongoDocumentStore } from './document-store.mongo';

let client: MongoClient;

beforeAll(async () => {
  client = await MongoClient.connect(testInfrastructure().mongoUri);
});

afterAll(async () => {
  await client.close();
});

describeDocumentStoreContract('MongoDB', async () => {
  const db = client.db(uniqueName('documents'));
  return {
    open: async () => new MongoDocumentStore(db),
    dispose: async () => {
      await db.dropDatabase();
    },
  };
});

describe('the MongoDB document store sharing a database with the event store', () => {
  it('drop() leaves the collections outside its prefix alone', async () => {
    const db = client.db(uniqueName('documents'));
    try {
      await db.collection('event_commits').insertOne({ streamId: 'account-1' });
      const store = new MongoDocumentStore(db);
      await store.collection('profiles').put({ _id: 'account-1', name: 'Ada' });

      await store.drop();

      expect(await db.collection('event_commits').countDocuments()).toBe(1);
      expect(await store.collection('profiles').get('account-1')).toBeNull();
    } finally {
      await db.dropDatabase();
    }
  });
});
