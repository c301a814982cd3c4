import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EnvelopeType } from '@tandem/contracts/tandem/fanout/v1/inbox';
import { EmbeddedDocumentStore } from '@tandem/documents';
import { fromRecord, toRecord } from '@tandem/event-sourcing';
import type { FanoutDomainEvent } from '@tandem/fanout-domain';
import type { EventLog, IncomingRecord, OutgoingRecord } from '@tandem/messaging';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DeliveryReceiptBatcher } from './delivery-receipts';
import { type DeviceListRecord, DeviceListsProjection } from './device-lists.projection';
import { fanoutEventCodec } from './fanout.codecs';
import { FanoutLog } from './fanout-log';
import {
  type AckedEntries,
  type InboxEntryRecord,
  type InboxHeadRecord,
  InboxesProjection,
} from './inboxes.projection';

const TOPIC = 'tandem.fanout.events';
const BOB = 'account-bob';
const ALICE = 'account-alice';
const PARTITIONS = 1;

/** MessageAccepted from alice's primary to bob's two devices, as the log holds it at `offset`. */
function message(serverMessageId: string, offset: number): IncomingRecord {
  const event: FanoutDomainEvent = {
    $case: 'messageAccepted',
    value: {
      accountId: BOB,
      serverMessageId,
      serverTimestamp: new Date('2026-12-06T12:00:00Z'),
      senderAccountId: ALICE,
      senderDeviceId: 1,
      clientMessageId: serverMessageId,
      recipientListVersion: 2,
      envelopes: [1, 2].map((deviceId) => ({
        accountId: BOB,
        deviceId,
        registrationId: 10 + deviceId,
        type: EnvelopeType.ENVELOPE_TYPE_CIPHERTEXT,
        content: Buffer.from(`for ${deviceId}`),
      })),
    },
  };
  const record = toRecord(
    {
      eventId: `event-${serverMessageId}`,
      type: 'MessageAccepted',
      partitionKey: BOB,
      occurredAt: new Date('2026-12-06T12:00:00Z'),
      correlationId: 'c',
      causationId: '',
      traceparent: '',
      tracestate: '',
      payload: fanoutEventCodec.encode(event),
      streamId: BOB,
      version: 0,
    },
    fanoutEventCodec.payloadType,
  );
  return { ...record, topic: TOPIC, partition: 0, offset: String(offset), headers: {}, timestamp: 0 };
}

describe('the inbox owner: inboxes folded in memory, checkpointed in bulk', () => {
  let dataDir: string;
  let documents: EmbeddedDocumentStore;
  let projection: InboxesProjection;
  const acked: AckedEntries[] = [];

  beforeEach(async () => {
    acked.length = 0;
    dataDir = mkdtempSync(join(tmpdir(), 'tandem-inbox-owner-'));
    documents = new EmbeddedDocumentStore({ dataDir, name: 'fanout' });
    await documents.collection<DeviceListRecord>('device_lists').put({
      _id: BOB,
      accountId: BOB,
      listVersion: 2,
      devices: [
        { deviceId: 1, registrationId: 11, primary: true },
        { deviceId: 2, registrationId: 12, primary: false },
      ],
      deleted: false,
      version: 2,
    });
    projection = new InboxesProjection(
      documents.collection('inbox_heads'),
      documents.collection('inbox_entries'),
      new DeviceListsProjection(documents.collection('device_lists')),
      { acked: (entries) => acked.push(entries) },
      'deferred',
      PARTITIONS,
    );
    projection.assigned([{ topic: TOPIC, partition: 0 }]);
  });

  afterEach(async () => {
    await documents.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const stored = () => documents.collection<InboxEntryRecord>('inbox_entries').find({});
  const storedHead = () => documents.collection<InboxHeadRecord>('inbox_heads').get(BOB);

  it('stores nothing until a checkpoint, which returns the log position it covers', async () => {
    await projection.applyBatch({
      topic: TOPIC,
      partition: 0,
      records: [message('m-1', 0), message('m-2', 1)],
    });
    expect(await storedHead()).toBeNull();
    expect((await projection.pendingAfter(BOB, 1, 0, 10)).map(({ entry }) => entry.sequence)).toEqual([1, 2]);

    expect(await projection.checkpoint()).toEqual([{ topic: TOPIC, partition: 0, nextOffset: '2' }]);
    expect((await stored()).map((record) => record._id).sort()).toEqual(
      [`${BOB}:1:1`, `${BOB}:1:2`, `${BOB}:2:1`, `${BOB}:2:2`].sort(),
    );
    expect((await storedHead())?.offset).toBe('1');
  });

  it('keeps the entries of a checkpoint in progress readable until the store has them', async () => {
    const entries = documents.collection<InboxEntryRecord>('inbox_entries');
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let started!: () => void;
    const inserting = new Promise<void>((resolve) => (started = resolve));
    const slowEntries = new Proxy(entries, {
      get: (target, property) => {
        if (property === 'insertNew') {
          return async (records: InboxEntryRecord[]) => {
            started();
            await released;
            return target.insertNew(records);
          };
        }
        const value = Reflect.get(target, property) as unknown;
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    const slow = new InboxesProjection(
      documents.collection('inbox_heads'),
      slowEntries,
      new DeviceListsProjection(documents.collection('device_lists')),
      {},
      'deferred',
      PARTITIONS,
    );
    slow.assigned([{ topic: TOPIC, partition: 0 }]);
    await slow.applyBatch({ topic: TOPIC, partition: 0, records: [message('m-1', 0), message('m-2', 1)] });

    const checkpoint = slow.checkpoint();
    await inserting;
    const during = await slow.pendingAfter(BOB, 1, 0, 10);
    release();
    await checkpoint;

    expect(during.map(({ entry }) => entry.serverMessageId)).toEqual(['m-1', 'm-2']);
    expect((await slow.pendingAfter(BOB, 1, 0, 10)).map(({ entry }) => entry.sequence)).toEqual([1, 2]);
  });

  it('never stores an entry acked before the checkpoint, and deletes one acked after it', async () => {
    await projection.applyBatch({ topic: TOPIC, partition: 0, records: [message('m-1', 0)] });
    await projection.checkpoint();
    await projection.applyBatch({ topic: TOPIC, partition: 0, records: [message('m-2', 1)] });

    const removed = projection.ackHere(BOB, 1, [], 2, new Date());
    expect(removed?.map((entry) => entry.serverMessageId)).toEqual(['m-1', 'm-2']);
    expect(acked).toHaveLength(1);
    expect(acked[0]!.entries.map((entry) => entry.senderAccountId)).toEqual([ALICE, ALICE]);
    expect(projection.takeAcks()).toEqual([
      { accountId: BOB, deviceId: 1, throughSequence: 2, serverMessageIds: [] },
    ]);
    expect(projection.takeAcks()).toEqual([]);
    await projection.checkpoint();

    expect((await stored()).map((record) => record._id).sort()).toEqual([`${BOB}:2:1`, `${BOB}:2:2`]);
    expect((await storedHead())?.inboxes.find((inbox) => inbox.deviceId === 1)?.pending).toEqual([]);
  });

  it('gives the same sequences when the log is folded again after a crash, appending nothing twice', async () => {
    await projection.applyBatch({ topic: TOPIC, partition: 0, records: [message('m-1', 0)] });
    await projection.checkpoint();
    await projection.applyBatch({ topic: TOPIC, partition: 0, records: [message('m-2', 1)] });

    const restarted = new InboxesProjection(
      documents.collection('inbox_heads'),
      documents.collection('inbox_entries'),
      new DeviceListsProjection(documents.collection('device_lists')),
      {},
      'deferred',
      PARTITIONS,
    );
    restarted.assigned([{ topic: TOPIC, partition: 0 }]);
    await restarted.applyBatch({
      topic: TOPIC,
      partition: 0,
      records: [message('m-1', 0), message('m-2', 1)],
    });
    await restarted.applyBatch({ topic: TOPIC, partition: 0, records: [message('m-2', 2)] });

    const entries = await restarted.pendingAfter(BOB, 2, 0, 10);
    expect(entries.map(({ entry }) => [entry.sequence, entry.serverMessageId])).toEqual([
      [1, 'm-1'],
      [2, 'm-2'],
    ]);
  });

  it('leaves an ack to the log for an account it does not fold', async () => {
    projection.assigned([]);
    expect(projection.ackHere(BOB, 1, [], 1, new Date())).toBeUndefined();
  });
});

describe('delivery receipts, gathered', () => {
  it('issues one record per sending account, naming every device that acked its messages', async () => {
    const published: OutgoingRecord[] = [];
    const log: EventLog = {
      ensureTopics: async () => undefined,
      publish: async (_topic, records) => {
        published.push(...records);
      },
      subscribe: async () => {
        throw new Error('not subscribed here');
      },
      close: async () => undefined,
    };
    const batcher = new DeliveryReceiptBatcher(new FanoutLog(log, TOPIC), {
      get: async (accountId: string) =>
        accountId === ALICE
          ? {
              _id: ALICE,
              accountId: ALICE,
              listVersion: 1,
              devices: [{ deviceId: 1, registrationId: 1, primary: true }],
              deleted: false,
              version: 1,
            }
          : null,
    });
    const entry = (serverMessageId: string, senderAccountId: string) => ({
      sequence: 1,
      serverMessageId,
      appendedAt: 0,
      senderAccountId,
      droppedFrom: 0,
      droppedTo: 0,
      droppedCount: 0,
    });
    const at = new Date('2026-12-06T12:00:00Z');
    batcher.add({
      accountId: BOB,
      deviceId: 1,
      entries: [entry('m-1', ALICE), entry('n-1', 'carol')],
      ackedAt: at,
    });
    batcher.add({ accountId: BOB, deviceId: 2, entries: [entry('m-1', ALICE)], ackedAt: at });
    batcher.add({
      accountId: BOB,
      deviceId: 1,
      entries: [entry('m-2', ALICE), entry('own', BOB)],
      ackedAt: at,
    });
    await batcher.flush();
    await batcher.flush();

    expect(published.map((record) => record.key).sort()).toEqual([ALICE, 'carol']);
    const toAlice = published.find((record) => record.key === ALICE)!;
    const event = fanoutEventCodec.decode(
      fromRecord({
        ...toAlice,
        topic: TOPIC,
        partition: 0,
        offset: '0',
        headers: {},
        timestamp: 0,
      }).payload,
    );
    expect(event.$case).toBe('receiptIssued');
    if (event.$case !== 'receiptIssued') return;
    expect(
      event.value.receipts.map((receipt) => [receipt.recipientDeviceId, receipt.serverMessageIds]),
    ).toEqual([
      [1, ['m-1', 'm-2']],
      [2, ['m-1']],
    ]);
  });
});
