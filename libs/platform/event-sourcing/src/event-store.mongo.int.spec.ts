import { testInfrastructure, uniqueName } from '@tandem/testing';
import { type Db, MongoClient } from 'mongodb';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { anEvent, describeEventStoreContract } from './event-store.contract';
import { ConcurrencyError } from './event-store.port';
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

describe('the MongoDB event store when a writer stopped after logging a commit', () => {
  let db: Db;

  beforeEach(() => {
    db = client.db(uniqueName('event_store'));
  });

  afterEach(async () => {
    await db.dropDatabase();
  });

  /** Appends, then takes the commit out of the stream again: what a writer leaves when it stops in between. */
  async function loggedButNotWritten(): Promise<void> {
    const writer = await MongoEventStore.open(db);
    await writer.appendToStream('stream-a', 0, [anEvent('a1')]);
    await writer.appendToStream('stream-a', 1, [anEvent('a2')]);
    await writer.close();
    expect(
      (await db.collection('event_commits').deleteOne({ _id: 'stream-a#1' as never })).deletedCount,
    ).toBe(1);
  }

  it('the relay writes the commit into its stream and publishes it in order', async () => {
    await loggedButNotWritten();
    const relay = await MongoEventStore.open(db);

    const pending = await relay.readUnpublished(10);

    expect(pending.map((commit) => commit.events.map((event) => event.version))).toEqual([[1], [2]]);
    const reader = await MongoEventStore.open(db);
    expect((await reader.readStream('stream-a')).map((event) => event.version)).toEqual([1, 2]);
    await expect(reader.appendToStream('stream-a', 1, [anEvent('late')])).rejects.toBeInstanceOf(
      ConcurrencyError,
    );
  });

  it('a writer that wins the stream end first turns the logged commit into a lost race, never published', async () => {
    await loggedButNotWritten();
    const other = await MongoEventStore.open(db);
    expect(await other.readStream('stream-a')).toHaveLength(1);
    await other.appendToStream('stream-a', 1, [anEvent('b2')]);

    const pending = await (await MongoEventStore.open(db)).readUnpublished(10);

    const labels = pending.flatMap((commit) =>
      commit.events.map((event) => new TextDecoder().decode(event.payload)),
    );
    expect(labels).toEqual(['a1', 'b2']);
  });
});
