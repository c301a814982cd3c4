import { BackupProvider } from '@tandem/contracts/tandem/backups/v1/backup';
import type { BackupEvent } from '@tandem/contracts/tandem/backups/v1/events';
import { describeProjection, eventsOn } from '@tandem/projection-testing';
import { expect } from 'vitest';
import { BackupReferencesProjection } from './backup-references.projection';

type BackupDomainEvent = NonNullable<BackupEvent['event']>;

const onBackups = eventsOn<BackupDomainEvent>('tandem.backups.events', 'tandem.backups.v1.BackupEvent');
const at = new Date('2026-11-25T10:00:00.000Z');
const DRIVE = BackupProvider.BACKUP_PROVIDER_GOOGLE_DRIVE;

const recorded = (accountId: string, backupId: string, mediaIds: string[], version: number) =>
  onBackups(
    {
      $case: 'backupRecorded',
      value: {
        accountId,
        backupId,
        provider: DRIVE,
        providerName: '',
        sizeBytes: 1_000_000,
        sha256: Buffer.alloc(32, version),
        endToEndEncrypted: true,
        keyReference: 'vault:key-v1',
        messageCount: 10,
        mediaCount: mediaIds.length,
        createdAt: at,
        recordedAt: at,
        byDeviceId: 1,
        mediaIds,
      },
    },
    accountId,
    version,
  );

describeProjection({
  name: 'media backup references',
  create: async (store) => {
    const references = new BackupReferencesProjection(store.collection('backup_references'));
    await references.ensureIndexes();
    return references;
  },
  apply: (references, event) => references.apply(event),
  collections: ['backup_references'],
  history: [
    recorded('acc-a', 'a1', ['m1', 'm2'], 1),
    recorded('acc-b', 'b1', ['m2', 'm9'], 1),
    recorded('acc-a', 'a2', ['m2', 'm3'], 2),
    recorded('acc-a', 'a3', [], 3),
    onBackups(
      {
        $case: 'backupPruned',
        value: {
          accountId: 'acc-a',
          backupId: 'a1',
          provider: DRIVE,
          retention: 2,
          prunedAt: at,
          byBackupId: 'a2',
        },
      },
      'acc-a',
      4,
    ),
    recorded('acc-c', 'c1', ['m7'], 1),
    recorded('acc-b', 'b2', ['m8'], 2),
    onBackups(
      {
        $case: 'backupDeleted',
        value: { accountId: 'acc-b', backupId: 'b2', provider: DRIVE, deletedAt: at, byDeviceId: 1 },
      },
      'acc-b',
      3,
    ),
    onBackups(
      { $case: 'backupsPurged', value: { accountId: 'acc-c', backupIds: ['c1'], purgedAt: at } },
      'acc-c',
      2,
    ),
  ],
  expectDocuments: ({ backup_references }) => {
    expect(backup_references).toEqual([
      { _id: 'm2/acc-a/a2', mediaId: 'm2', accountId: 'acc-a', backupId: 'a2' },
      { _id: 'm2/acc-b/b1', mediaId: 'm2', accountId: 'acc-b', backupId: 'b1' },
      { _id: 'm3/acc-a/a2', mediaId: 'm3', accountId: 'acc-a', backupId: 'a2' },
      { _id: 'm9/acc-b/b1', mediaId: 'm9', accountId: 'acc-b', backupId: 'b1' },
    ]);
  },
});
