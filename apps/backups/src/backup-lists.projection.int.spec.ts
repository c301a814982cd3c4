import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BackupDomainEvent } from '@tandem/backups-domain';
import { BackupProvider } from '@tandem/contracts/tandem/backups/v1/backup';
import { type DocumentStore, EmbeddedDocumentStore, MongoDocumentStore } from '@tandem/documents';
import type { EventMetadata, ReceivedEvent } from '@tandem/event-sourcing';
import { testInfrastructure, uniqueName } from '@tandem/testing';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BackupListRecord, BackupListsProjection, positionOf } from './backup-lists.projection';

const accountId = 'acc-1';
const now = new Date('2026-11-25T12:00:00.000Z');
const hoursAgo = (hours: number) => new Date(now.getTime() - hours * 3_600_000);

function received(event: BackupDomainEvent, version: number): ReceivedEvent<BackupDomainEvent> {
  const metadata: EventMetadata = {
    eventId: `e${version}-${event.value.accountId}`,
    type: event.$case,
    aggregateId: event.value.accountId,
    aggregateVersion: version,
    occurredAt: now,
    correlationId: 'c',
    causationId: 'c',
    traceparent: '',
    tracestate: '',
    partitionKey: event.value.accountId,
    payloadType: 'tandem.backups.v1.BackupEvent',
    topic: 'tandem.backups.events',
    partition: 0,
    offset: String(version),
  };
  return { event, metadata };
}

const recorded = (
  backupId: string,
  createdAt: Date,
  provider = BackupProvider.BACKUP_PROVIDER_GOOGLE_DRIVE,
) =>
  ({
    $case: 'backupRecorded',
    value: {
      accountId,
      backupId,
      provider,
      providerName: '',
      sizeBytes: 5_000_000,
      sha256: Buffer.alloc(32, backupId.length),
      endToEndEncrypted: true,
      keyReference: 'vault:key-v1',
      messageCount: 10,
      mediaCount: 2,
      createdAt,
      recordedAt: now,
      byDeviceId: 1,
      mediaIds: [],
    },
  }) satisfies BackupDomainEvent;

const history = [
  received(recorded('mon', hoursAgo(72)), 1),
  received(recorded('tue', hoursAgo(48)), 2),
  received(recorded('iphone', hoursAgo(60), BackupProvider.BACKUP_PROVIDER_ICLOUD), 3),
  received(recorded('wed', hoursAgo(24)), 4),
  received(
    {
      $case: 'backupPruned',
      value: {
        accountId,
        backupId: 'mon',
        provider: BackupProvider.BACKUP_PROVIDER_GOOGLE_DRIVE,
        retention: 2,
        prunedAt: now,
        byBackupId: 'wed',
      },
    },
    5,
  ),
  received(recorded('thu', hoursAgo(0)), 6),
  received(
    {
      $case: 'backupPruned',
      value: {
        accountId,
        backupId: 'tue',
        provider: BackupProvider.BACKUP_PROVIDER_GOOGLE_DRIVE,
        retention: 2,
        prunedAt: now,
        byBackupId: 'thu',
      },
    },
    7,
  ),
  received(
    {
      $case: 'backupDeleted',
      value: {
        accountId,
        backupId: 'wed',
        provider: BackupProvider.BACKUP_PROVIDER_GOOGLE_DRIVE,
        deletedAt: now,
        byDeviceId: 1,
      },
    },
    8,
  ),
];

const purged = received(
  { $case: 'backupsPurged', value: { accountId, backupIds: ['thu', 'iphone'], purgedAt: now } },
  9,
);

async function applyAll(model: BackupListsProjection, events: readonly ReceivedEvent<BackupDomainEvent>[]) {
  for (const event of events) await model.apply(event);
}

function describeReadModel(
  name: string,
  open: () => Promise<{ store: DocumentStore; close(): Promise<void> }>,
) {
  describe(`the backup lists read model (${name})`, () => {
    let store: DocumentStore;
    let close: () => Promise<void>;
    let model: BackupListsProjection;
    const stored = () => store.collection<BackupListRecord>('backup_lists').get(accountId);

    beforeAll(async () => {
      ({ store, close } = await open());
      model = new BackupListsProjection(store.collection<BackupListRecord>('backup_lists'));
    });

    afterAll(async () => {
      await close();
    });

    it('follows the backup list through records, prunes and deletions, newest first', async () => {
      await applyAll(model, history);
      const page = await model.page(accountId, 20);
      expect(page.backups.map((backup) => backup.backupId)).toEqual(['thu', 'iphone']);
      expect(page).toMatchObject({ more: false, version: 8 });
      expect(page.backups[0]).toEqual({
        backupId: 'thu',
        provider: BackupProvider.BACKUP_PROVIDER_GOOGLE_DRIVE,
        providerName: '',
        sizeBytes: 5_000_000,
        sha256: Buffer.alloc(32, 3).toString('base64'),
        endToEndEncrypted: true,
        keyReference: 'vault:key-v1',
        messageCount: 10,
        mediaCount: 2,
        createdAt: now.toISOString(),
        recordedAt: now.toISOString(),
        recordedByDeviceId: 1,
      });
    });

    it('pages after a position and finds the latest, of any provider or of one', async () => {
      const first = await model.page(accountId, 1);
      expect(first.backups.map((backup) => backup.backupId)).toEqual(['thu']);
      expect(first.more).toBe(true);
      const second = await model.page(accountId, 1, positionOf(first.backups[0]!));
      expect(second.backups.map((backup) => backup.backupId)).toEqual(['iphone']);
      expect(second.more).toBe(false);
      expect((await model.latest(accountId))?.backup.backupId).toBe('thu');
      expect((await model.latest(accountId, BackupProvider.BACKUP_PROVIDER_ICLOUD))?.backup.backupId).toBe(
        'iphone',
      );
      expect(await model.latest(accountId, BackupProvider.BACKUP_PROVIDER_OTHER)).toBeNull();
      expect(await model.latest('nobody')).toBeNull();
      expect(await model.page('nobody', 20)).toEqual({ backups: [], more: false, version: 0 });
    });

    it('changes nothing when events are delivered again or late', async () => {
      const before = await stored();
      await applyAll(model, history);
      await model.apply(history[0]!);
      await model.apply(history[3]!);
      expect(await stored()).toEqual(before);
    });

    it('rebuilds the same documents when dropped and replayed from the start', async () => {
      const before = await stored();
      await store.drop();
      expect(await stored()).toBeNull();
      await applyAll(model, history);
      expect(await stored()).toEqual(before);
    });

    it('keeps no backup of a deleted account, also when older events come again', async () => {
      await model.apply(purged);
      await model.apply(purged);
      await applyAll(model, history);
      expect(await stored()).toEqual({ _id: accountId, accountId, backups: [], purged: true, version: 9 });
      expect(await model.latest(accountId)).toBeNull();
      expect((await model.page(accountId, 20)).backups).toEqual([]);
    });
  });
}

describeReadModel('MongoDB protocol', async () => {
  const client = await MongoClient.connect(testInfrastructure().mongoUri);
  const db = client.db(uniqueName('backup_lists'));
  return {
    store: new MongoDocumentStore(db),
    close: async () => {
      await db.dropDatabase();
      await client.close();
    },
  };
});

describeReadModel('embedded', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tandem-backup-lists-'));
  const store = new EmbeddedDocumentStore({ dataDir });
  return {
    store,
    close: async () => {
      await store.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
});
