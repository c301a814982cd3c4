import { MongoDocumentStore } from '@tandem/documents';
import type { ReceivedEvent } from '@tandem/event-sourcing';
import { testInfrastructure, uniqueName } from '@tandem/testing';
import { type Db, MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccountDomainEvent } from './account-event.codec';
import { type BlockRecord, BlocksProjection } from './blocks.projection';
import { describeProjection, eventsOn } from '@tandem/projection-testing';

function received(event: AccountDomainEvent, version: number): ReceivedEvent<AccountDomainEvent> {
  return {
    event,
    metadata: {
      eventId: `${event.value.accountId}-${version}`,
      type: event.$case,
      aggregateId: event.value.accountId,
      aggregateVersion: version,
      occurredAt: new Date('2026-11-25T10:00:00Z'),
      correlationId: 'c',
      causationId: 'c',
      traceparent: '',
      tracestate: '',
      partitionKey: event.value.accountId,
      payloadType: 'tandem.accounts.v1.AccountEvent',
      topic: 'tandem.accounts.events',
      partition: 0,
      offset: String(version),
    },
  };
}

const blocked = (accountId: string, blockedAccountId: string, version: number) =>
  received({ $case: 'accountBlocked', value: { accountId, blockedAccountId, byDeviceId: 1 } }, version);

const unblocked = (accountId: string, unblockedAccountId: string, version: number) =>
  received({ $case: 'accountUnblocked', value: { accountId, unblockedAccountId, byDeviceId: 1 } }, version);

const none = { recipientBlocksSender: false, senderBlocksRecipient: false };

describe('the blocks projection on a MongoDB-protocol server', () => {
  let client: MongoClient;
  let db: Db;
  let store: MongoDocumentStore;

  beforeAll(async () => {
    client = await MongoClient.connect(testInfrastructure().mongoUri);
    db = client.db(uniqueName('blocks'));
    store = new MongoDocumentStore(db);
  });

  afterAll(async () => {
    await db.dropDatabase();
    await client.close();
  });

  /** The documents of a collection as the server holds them (the store's default collection prefix). */
  const stored = (name: string) => db.collection(`projection_${name}`).find({}).sort({ _id: 1 }).toArray();

  const history = [blocked('bob', 'carol', 2), blocked('alice', 'bob', 3), unblocked('alice', 'bob', 4)];

  it('knows who blocks whom, in both directions', async () => {
    const blocks = new BlocksProjection(store.collection(uniqueName('blocks')));
    await blocks.apply(blocked('bob', 'carol', 2));
    expect(await blocks.between('carol', 'bob')).toEqual({
      recipientBlocksSender: true,
      senderBlocksRecipient: false,
    });
    expect(await blocks.between('bob', 'carol')).toEqual({
      recipientBlocksSender: false,
      senderBlocksRecipient: true,
    });
    expect(await blocks.eitherBlocks('carol', 'bob')).toBe(true);
    expect(await blocks.eitherBlocks('bob', 'carol')).toBe(true);
    expect(await blocks.eitherBlocks('alice', 'bob')).toBe(false);
    expect(await blocks.between('bob', 'bob')).toEqual(none);
  });

  it('keeps one document per pair in the shape stores already hold', async () => {
    const name = uniqueName('blocks');
    const blocks = new BlocksProjection(store.collection(name));
    for (const event of history) await blocks.apply(event);
    expect(await stored(name)).toEqual([
      { _id: 'alice>bob', accountId: 'alice', blockedAccountId: 'bob', blocked: false, version: 4 },
      { _id: 'bob>carol', accountId: 'bob', blockedAccountId: 'carol', blocked: true, version: 2 },
    ]);
  });

  it('changes nothing when events come again, and a rebuild from scratch gives the same documents', async () => {
    const name = uniqueName('blocks');
    const blocks = new BlocksProjection(store.collection(name));
    for (const event of history) await blocks.apply(event);
    const once = await stored(name);
    expect(once).toHaveLength(2);

    for (const event of history) await blocks.apply(event);
    await blocks.apply(blocked('alice', 'bob', 3));
    expect(await stored(name)).toEqual(once);
    expect(await blocks.eitherBlocks('alice', 'bob')).toBe(false);

    const rebuiltName = uniqueName('blocks');
    const rebuilt = new BlocksProjection(store.collection<BlockRecord>(rebuiltName));
    for (const event of history) await rebuilt.apply(event);
    expect(await stored(rebuiltName)).toEqual(once);
  });

  it('with a cache, answers a pair from memory until it applies a change to it or is asked fresh', async () => {
    const name = uniqueName('blocks');
    const cached = new BlocksProjection(store.collection(name), { cacheMs: 60_000 });
    const elsewhere = new BlocksProjection(store.collection(name));
    expect(await cached.between('alice', 'bob', false)).toEqual(none);

    await elsewhere.apply(blocked('bob', 'alice', 1));
    expect(await cached.between('alice', 'bob', false)).toEqual(none);
    expect(await cached.between('alice', 'bob', true)).toEqual({
      recipientBlocksSender: true,
      senderBlocksRecipient: false,
    });

    await elsewhere.apply(unblocked('bob', 'alice', 2));
    await cached.apply(unblocked('bob', 'alice', 2));
    expect(await cached.between('alice', 'bob', false)).toEqual(none);
  });

  it('without a cache, reads the store for every question', async () => {
    const name = uniqueName('blocks');
    const uncached = new BlocksProjection(store.collection(name));
    const elsewhere = new BlocksProjection(store.collection(name));
    expect(await uncached.between('alice', 'bob', false)).toEqual(none);
    await elsewhere.apply(blocked('alice', 'bob', 1));
    expect(await uncached.between('alice', 'bob', false)).toEqual({
      recipientBlocksSender: false,
      senderBlocksRecipient: true,
    });
  });
});

const onAccounts = eventsOn<AccountDomainEvent>('tandem.accounts.events', 'tandem.accounts.v1.AccountEvent');

const blockedEvent = (accountId: string, blockedAccountId: string, version: number) =>
  onAccounts(
    { $case: 'accountBlocked', value: { accountId, blockedAccountId, byDeviceId: 1 } },
    accountId,
    version,
  );
const unblockedEvent = (accountId: string, unblockedAccountId: string, version: number) =>
  onAccounts(
    { $case: 'accountUnblocked', value: { accountId, unblockedAccountId, byDeviceId: 1 } },
    accountId,
    version,
  );

describeProjection({
  name: 'blocks',
  create: (store) => new BlocksProjection(store.collection('blocks')),
  apply: (blocks, event) => blocks.apply(event),
  collections: ['blocks'],
  history: [
    blockedEvent('acc-a', 'acc-b', 2),
    onAccounts(
      {
        $case: 'profileUpdated',
        value: { accountId: 'acc-a', displayName: 'Ada', about: '', avatarRef: '', byDeviceId: 1 },
      },
      'acc-a',
      3,
    ),
    blockedEvent('acc-a', 'acc-c', 4),
    blockedEvent('acc-b', 'acc-a', 2),
    unblockedEvent('acc-a', 'acc-b', 5),
    blockedEvent('acc-c', 'acc-b', 2),
    unblockedEvent('acc-c', 'acc-b', 3),
    blockedEvent('acc-c', 'acc-b', 4),
  ],
  stale: [
    blockedEvent('acc-a', 'acc-b', 3),
    unblockedEvent('acc-a', 'acc-c', 3),
    unblockedEvent('acc-c', 'acc-b', 2),
  ],
  expectDocuments: ({ blocks }) => {
    expect(blocks).toEqual([
      { _id: 'acc-a>acc-b', accountId: 'acc-a', blockedAccountId: 'acc-b', blocked: false, version: 5 },
      { _id: 'acc-a>acc-c', accountId: 'acc-a', blockedAccountId: 'acc-c', blocked: true, version: 4 },
      { _id: 'acc-b>acc-a', accountId: 'acc-b', blockedAccountId: 'acc-a', blocked: true, version: 2 },
      { _id: 'acc-c>acc-b', accountId: 'acc-c', blockedAccountId: 'acc-b', blocked: true, version: 4 },
    ]);
  },
});
