import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EnvelopeType, SystemEntryKind } from '@tandem/contracts/tandem/fanout/v1/inbox';
import { type DocumentStore, EmbeddedDocumentStore, MongoDocumentStore } from '@tandem/documents';
import { toRecord } from '@tandem/event-sourcing';
import type { FanoutDomainEvent } from '@tandem/fanout-domain';
import type { IncomingRecord } from '@tandem/messaging';
import { testInfrastructure, uniqueName } from '@tandem/testing';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fanoutEventCodec } from './fanout.codecs';
import { type InboxEntryRecord, type InboxHeadRecord, InboxTiers } from './inbox-tiers';
import { InboxesProjection } from './inboxes.projection';

const TOPIC = 'tandem.fanout.events';
const alice = 'account-alice';
const bob = 'account-bob';
const at = new Date('2026-12-07T12:00:00.000Z');

/** Bob has a primary (1) and two companions (2, 3); alice writes to him from her primary. */
const message = (serverMessageId: string): FanoutDomainEvent => ({
  $case: 'messageAccepted',
  value: {
    accountId: bob,
    serverMessageId,
    serverTimestamp: at,
    senderAccountId: alice,
    senderDeviceId: 1,
    clientMessageId: serverMessageId,
    recipientListVersion: 3,
    envelopes: [1, 2, 3].map((deviceId) => ({
      accountId: bob,
      deviceId,
      registrationId: 10 + deviceId,
      type: EnvelopeType.ENVELOPE_TYPE_CIPHERTEXT,
      content: Buffer.from(`${serverMessageId} for bob/${deviceId}`),
    })),
    primaryDeviceId: 1,
  },
});

const syncCopy = (serverMessageId: string): FanoutDomainEvent => ({
  $case: 'sentMessageSynced',
  value: {
    accountId: alice,
    serverMessageId,
    serverTimestamp: at,
    senderDeviceId: 1,
    recipientAccountId: bob,
    envelopes: [
      {
        accountId: alice,
        deviceId: 2,
        registrationId: 22,
        type: EnvelopeType.ENVELOPE_TYPE_CIPHERTEXT,
        content: Buffer.from(`${serverMessageId} for alice/2`),
      },
    ],
    primaryDeviceId: 1,
  },
});

/** The log: messages, a profile change, acks, a receipt, an expiry, a device leaving. */
const log: FanoutDomainEvent[] = [
  message('m-1'),
  syncCopy('m-1'),
  message('m-2'),
  {
    $case: 'systemEntryAccepted',
    value: {
      accountId: bob,
      serverMessageId: 'source-1',
      entry: {
        kind: SystemEntryKind.SYSTEM_ENTRY_KIND_PROFILE_UPDATED,
        sourceEventId: 'source-1',
        payloadType: 'tandem.accounts.v1.AccountEvent',
        payload: Buffer.from('profile'),
      },
      deviceIds: [1, 2, 3],
      primaryDeviceId: 1,
    },
  },
  {
    $case: 'inboxAcked',
    value: { accountId: bob, deviceId: 1, serverMessageIds: [], throughSequence: 2, ackedAt: at },
  },
  {
    $case: 'receiptIssued',
    value: {
      accountId: alice,
      serverMessageId: 'receipt-1',
      receipt: undefined,
      receipts: [
        { recipientAccountId: bob, recipientDeviceId: 1, serverMessageIds: ['m-1', 'm-2'], deliveredAt: at },
      ],
      deviceIds: [1, 2],
      primaryDeviceId: 1,
    },
  },
  {
    $case: 'inboxExpired',
    value: { accountId: bob, deviceId: 2, serverMessageIds: ['m-1'], expiredAt: at },
  },
  { $case: 'inboxClosed', value: { accountId: bob, deviceId: 3 } },
  message('m-3'),
];

/** The log's records, each at its offset of the one partition. */
const records: IncomingRecord[] = log.map((event, offset) => {
  const record = toRecord(
    {
      eventId: `event-${offset}`,
      type: fanoutEventCodec.typeOf(event),
      partitionKey: fanoutEventCodec.partitionKeyOf(event),
      occurredAt: new Date(at.getTime() + offset * 1000),
      correlationId: 'c',
      causationId: '',
      traceparent: '',
      tracestate: '',
      payload: fanoutEventCodec.encode(event),
      streamId: fanoutEventCodec.partitionKeyOf(event),
      version: 0,
    },
    fanoutEventCodec.payloadType,
  );
  return { ...record, topic: TOPIC, partition: 0, offset: String(offset), headers: {}, timestamp: 0 };
});

const projectionInto = (store: DocumentStore) =>
  new InboxesProjection(new InboxTiers(store.collection('inbox_heads'), store.collection('inbox_entries')));

/** Every head and entry document, by id. */
async function documentsOf(store: DocumentStore) {
  const byId = (a: { _id: string }, b: { _id: string }) => a._id.localeCompare(b._id);
  return {
    heads: (await store.collection<InboxHeadRecord>('inbox_heads').find({})).sort(byId),
    entries: (await store.collection<InboxEntryRecord>('inbox_entries').find({})).sort(byId),
  };
}

function describeInboxes(
  name: string,
  open: () => Promise<{ store: () => DocumentStore; close(): Promise<void> }>,
) {
  describe(`the inbox projection (${name})`, () => {
    let stores: () => DocumentStore;
    let close: () => Promise<void>;
    let once: Awaited<ReturnType<typeof documentsOf>>;

    beforeAll(async () => {
      ({ store: stores, close } = await open());
      const store = stores();
      const projection = projectionInto(store);
      for (const record of records)
        await projection.applyBatch({ topic: TOPIC, partition: 0, records: [record] });
      once = await documentsOf(store);
    });

    afterAll(async () => {
      await close();
    });

    it('folds the log into the inboxes the events name, without reading a device list', () => {
      const inboxes = (accountId: string) =>
        once.heads
          .find((head) => head.accountId === accountId)
          ?.inboxes.map((inbox) => [
            inbox.deviceId,
            inbox.lastSequence,
            inbox.pending.map((e) => e.sequence),
          ]);
      expect(inboxes(bob)).toEqual([
        [1, 4, [3, 4]],
        [2, 4, [2, 3, 4]],
      ]);
      expect(inboxes(alice)).toEqual([
        [1, 1, [1]],
        [2, 2, [1, 2]],
      ]);
      expect(once.heads.find((head) => head.accountId === bob)?.closed).toEqual([3]);
      expect(once.entries.map((entry) => entry._id)).toEqual(
        [
          `${alice}:1:1`,
          `${alice}:2:1`,
          `${alice}:2:2`,
          `${bob}:1:3`,
          `${bob}:1:4`,
          `${bob}:2:2`,
          `${bob}:2:3`,
          `${bob}:2:4`,
        ].sort(),
      );
    });

    it('gives the same documents when every event is applied twice, in one batch, in the next, or relayed again later', async () => {
      const store = stores();
      const projection = projectionInto(store);
      for (const record of records) {
        await projection.applyBatch({ topic: TOPIC, partition: 0, records: [record, record] });
        await projection.applyBatch({ topic: TOPIC, partition: 0, records: [record] });
      }
      const relayedAgain = records.map((record, index) => ({
        ...record,
        offset: String(records.length + index),
      }));
      await projection.applyBatch({ topic: TOPIC, partition: 0, records: relayedAgain });
      const twice = await documentsOf(store);
      expect(twice).toEqual(once);
    });

    it('rebuilds equal documents from scratch: a fresh store, every event in one batch', async () => {
      const store = stores();
      await projectionInto(store).applyBatch({ topic: TOPIC, partition: 0, records });
      expect(await documentsOf(store)).toEqual(once);
    });
  });
}

describeInboxes('MongoDB protocol', async () => {
  const client = await MongoClient.connect(testInfrastructure().mongoUri);
  const dbs: string[] = [];
  return {
    store: () => {
      const db = client.db(uniqueName('inboxes'));
      dbs.push(db.databaseName);
      return new MongoDocumentStore(db);
    },
    close: async () => {
      for (const name of dbs) await client.db(name).dropDatabase();
      await client.close();
    },
  };
});

describeInboxes('embedded', async () => {
  const dirs: string[] = [];
  const stores: EmbeddedDocumentStore[] = [];
  return {
    store: () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'tandem-inboxes-'));
      dirs.push(dataDir);
      const store = new EmbeddedDocumentStore({ dataDir, name: 'fanout' });
      stores.push(store);
      return store;
    },
    close: async () => {
      for (const store of stores) await store.close();
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    },
  };
});
