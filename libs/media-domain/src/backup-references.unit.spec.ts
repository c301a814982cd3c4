import { BackupProvider } from '@tandem/contracts/tandem/backups/v1/backup';
import { describe, expect, it } from 'vitest';
import { backupReferenceChange } from './backup-references';

const accountId = 'account-1';
const at = new Date('2026-12-01T10:00:00.000Z');
const mediaIds = ['AAAAAAAAAAAAAAAAAAAAAA', 'BBBBBBBBBBBBBBBBBBBBBB'];
const DRIVE = BackupProvider.BACKUP_PROVIDER_GOOGLE_DRIVE;

const recorded = (ids: string[]) =>
  ({
    $case: 'backupRecorded',
    value: {
      accountId,
      backupId: 'backup-1',
      provider: DRIVE,
      providerName: '',
      sizeBytes: 1000,
      sha256: Buffer.alloc(32),
      endToEndEncrypted: false,
      keyReference: '',
      messageCount: 3,
      mediaCount: ids.length,
      createdAt: at,
      recordedAt: at,
      byDeviceId: 1,
      mediaIds: ids,
    },
  }) as const;

describe('backup references', () => {
  it('given a backup recorded with media, then it references each of them', () => {
    expect(backupReferenceChange(recorded(mediaIds))).toEqual({
      kind: 'reference',
      accountId,
      backupId: 'backup-1',
      mediaIds,
    });
  });

  it('given a backup recorded without media, then nothing changes', () => {
    expect(backupReferenceChange(recorded([]))).toEqual({ kind: 'none' });
  });

  it('when the backup is pruned or deleted, then its references are released', () => {
    expect(
      backupReferenceChange({
        $case: 'backupPruned',
        value: {
          accountId,
          backupId: 'backup-1',
          provider: DRIVE,
          retention: 1,
          prunedAt: at,
          byBackupId: 'b-2',
        },
      }),
    ).toEqual({ kind: 'release', accountId, backupId: 'backup-1' });
    expect(
      backupReferenceChange({
        $case: 'backupDeleted',
        value: { accountId, backupId: 'backup-1', provider: DRIVE, deletedAt: at, byDeviceId: 1 },
      }),
    ).toEqual({ kind: 'release', accountId, backupId: 'backup-1' });
  });

  it("when the account's backups are purged, then every reference of the account is released", () => {
    expect(
      backupReferenceChange({
        $case: 'backupsPurged',
        value: { accountId, backupIds: ['backup-1'], purgedAt: at },
      }),
    ).toEqual({ kind: 'release-account', accountId });
  });
});
