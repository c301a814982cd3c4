import { BackupProvider } from '@tandem/contracts/tandem/backups/v1/backup';
import { fold } from '@tandem/decider';
import { deciderSpecification } from '@tandem/testing';
import { describe, expect, it } from 'vitest';
import type { BackupContents } from './backup';
import {
  type Actor,
  type BackupDomainEvent,
  backupsDecider,
  findBackup,
  keptBackups,
  type RecordBackup,
} from './backups.decider';

const spec = deciderSpecification(backupsDecider);

const accountId = 'account-1';
const now = new Date('2026-11-25T12:00:00.000Z');
const primary: Actor = { deviceId: 1, primary: true };
const companion: Actor = { deviceId: 2, primary: false };
const { BACKUP_PROVIDER_GOOGLE_DRIVE: DRIVE, BACKUP_PROVIDER_ICLOUD: ICLOUD } = BackupProvider;

const hoursAgo = (hours: number) => new Date(now.getTime() - hours * 3_600_000);

const mediaA = 'AAAAAAAAAAAAAAAAAAAAAA';
const mediaB = 'BBBBBBBBBBBBBBBBBBBBB-';

function contents(
  backupId: string,
  createdAt: Date,
  overrides: Partial<BackupContents> = {},
): BackupContents {
  return {
    backupId,
    provider: DRIVE,
    providerName: '',
    sizeBytes: 1_048_576,
    sha256: Buffer.alloc(32, backupId.length),
    endToEndEncrypted: true,
    keyReference: 'vault:hsm-eu/key-v3',
    messageCount: 1200,
    mediaCount: 35,
    createdAt,
    mediaIds: [mediaA, mediaB],
    ...overrides,
  };
}

const record = (backup: BackupContents, retention = 2, by: Actor = primary): RecordBackup => ({
  type: 'RecordBackup',
  accountId,
  backup,
  by,
  retention,
  now,
});

function recorded(backup: BackupContents, by: Actor = primary): BackupDomainEvent {
  return {
    $case: 'backupRecorded',
    value: {
      accountId,
      backupId: backup.backupId,
      provider: backup.provider,
      providerName: backup.providerName,
      sizeBytes: backup.sizeBytes,
      sha256: Buffer.from(backup.sha256),
      endToEndEncrypted: backup.endToEndEncrypted,
      keyReference: backup.keyReference,
      messageCount: backup.messageCount,
      mediaCount: backup.mediaCount,
      createdAt: backup.createdAt,
      recordedAt: now,
      byDeviceId: by.deviceId,
      mediaIds: [...backup.mediaIds],
    },
  };
}

const pruned = (
  backupId: string,
  byBackupId: string,
  provider = DRIVE,
  retention = 2,
): BackupDomainEvent => ({
  $case: 'backupPruned',
  value: { accountId, backupId, provider, retention, prunedAt: now, byBackupId },
});

const deleted = (backupId: string, provider = DRIVE): BackupDomainEvent => ({
  $case: 'backupDeleted',
  value: { accountId, backupId, provider, deletedAt: now, byDeviceId: 1 },
});

const purged = (backupIds: string[]): BackupDomainEvent => ({
  $case: 'backupsPurged',
  value: { accountId, backupIds, purgedAt: now },
});

const monday = contents('backup-monday', hoursAgo(72));
const tuesday = contents('backup-tuesday', hoursAgo(48));
const wednesday = contents('backup-wednesday', hoursAgo(24));
const iphone = contents('backup-iphone', hoursAgo(1), { provider: ICLOUD });

describe('the backups decider', () => {
  describe('when the primary records a backup', () => {
    it('records BackupRecorded with the metadata, the time and the device', () => {
      spec
        .given([])
        .when(record(monday))
        .then([recorded(monday)]);
    });

    it('records an unencrypted backup without a key reference, empty, and one of another provider', () => {
      const plain = contents('plain', hoursAgo(2), {
        endToEndEncrypted: false,
        keyReference: '',
        messageCount: 0,
        mediaCount: 0,
      });
      spec
        .given([])
        .when(record(plain))
        .then([recorded(plain)]);
      const other = contents('other', hoursAgo(2), {
        provider: BackupProvider.BACKUP_PROVIDER_OTHER,
        providerName: 'Nextcloud',
      });
      spec
        .given([])
        .when(record(other))
        .then([recorded(other)]);
    });

    it('takes the limits themselves: a 128-character id, a 256-character reference, 5 minutes ahead', () => {
      const atLimits = contents('a._-Z9'.padEnd(128, 'x'), new Date(now.getTime() + 5 * 60_000), {
        keyReference: 'k'.repeat(256),
      });
      spec
        .given([])
        .when(record(atLimits))
        .then([recorded(atLimits)]);
    });
  });

  describe('when a companion records or deletes a backup', () => {
    it('refuses, recording nothing', () => {
      spec
        .given([])
        .when(record(monday, 2, companion))
        .thenThrows('permission-denied', /only the primary device may record/);
      spec
        .given([recorded(monday)])
        .when({ type: 'DeleteBackup', accountId, backupId: monday.backupId, by: companion, now })
        .thenThrows('permission-denied', /only the primary device may delete/);
    });

    it('refuses before it looks at the input', () => {
      spec
        .given([])
        .when(record({ ...monday, sizeBytes: 0 }, 2, companion))
        .thenThrows('permission-denied');
    });
  });

  describe('when the input is bad, it refuses naming the field and records nothing', () => {
    const cases: [string, Partial<BackupContents>, string][] = [
      ['an empty backup id', { backupId: '' }, 'backup_id'],
      ['a backup id of 129 characters', { backupId: 'x'.repeat(129) }, 'backup_id'],
      ['a backup id with a slash', { backupId: 'daily/1' }, 'backup_id'],
      ['a backup id with a space', { backupId: 'daily 1' }, 'backup_id'],
      ['no provider', { provider: BackupProvider.BACKUP_PROVIDER_UNSPECIFIED }, 'provider'],
      ['an unknown provider', { provider: 99 as BackupProvider }, 'provider'],
      ['OTHER without a name', { provider: BackupProvider.BACKUP_PROVIDER_OTHER }, 'provider_name'],
      [
        'OTHER with a blank name',
        { provider: BackupProvider.BACKUP_PROVIDER_OTHER, providerName: '  ' },
        'provider_name',
      ],
      [
        'OTHER with a name of 65 characters',
        { provider: BackupProvider.BACKUP_PROVIDER_OTHER, providerName: 'n'.repeat(65) },
        'provider_name',
      ],
      ['a provider name for Google Drive', { providerName: 'Drive' }, 'provider_name'],
      ['a size of zero', { sizeBytes: 0 }, 'size_bytes'],
      ['a negative size', { sizeBytes: -1 }, 'size_bytes'],
      ['a fractional size', { sizeBytes: 1.5 }, 'size_bytes'],
      ['a checksum of 31 bytes', { sha256: Buffer.alloc(31) }, 'sha256'],
      ['a checksum of 33 bytes', { sha256: Buffer.alloc(33) }, 'sha256'],
      ['no checksum', { sha256: Buffer.alloc(0) }, 'sha256'],
      ['encrypted without a key reference', { keyReference: '' }, 'key_reference'],
      ['a key reference of 257 characters', { keyReference: 'k'.repeat(257) }, 'key_reference'],
      ['a key reference with a control character', { keyReference: 'v1\u0000' }, 'key_reference'],
      [
        'a key reference for an unencrypted backup',
        { endToEndEncrypted: false, keyReference: 'v1' },
        'key_reference',
      ],
      ['a negative message count', { messageCount: -1 }, 'message_count'],
      ['a negative media count', { mediaCount: -3 }, 'media_count'],
      ['a malformed media id', { mediaIds: [mediaA, 'not-a-media-id'] }, 'media_ids'],
      ['a media id of 23 characters', { mediaIds: [`${mediaA}A`] }, 'media_ids'],
      ['a media id twice', { mediaIds: [mediaA, mediaB, mediaA] }, 'media_ids'],
      [
        'more than 10000 media ids',
        { mediaIds: Array.from({ length: 10_001 }, (_, n) => n.toString(36).padStart(22, 'm')) },
        'media_ids',
      ],
      ['no creation time', { createdAt: undefined }, 'created_at'],
      ['a malformed creation time', { createdAt: new Date(Number.NaN) }, 'created_at'],
      ['a creation time at the epoch', { createdAt: new Date(0) }, 'created_at'],
      [
        'a creation time more than 5 minutes ahead',
        { createdAt: new Date(now.getTime() + 5 * 60_000 + 1) },
        'created_at',
      ],
    ];
    for (const [name, overrides, field] of cases) {
      it(`refuses ${name}`, () => {
        spec
          .given([recorded(monday)])
          .when(record({ ...tuesday, ...overrides }))
          .thenThrows('invalid-argument', new RegExp(`^${field}: `));
      });
    }
  });

  describe('when the same backup id is recorded again', () => {
    it('records nothing when the contents are the same', () => {
      spec
        .given([recorded(monday)])
        .when(record(monday))
        .thenNothingHappens();
    });

    it('records nothing for a retried record, whoever and whenever it comes', () => {
      spec
        .given([recorded(monday)])
        .when({ ...record(monday), by: { deviceId: 7, primary: true }, now: hoursAgo(-1) })
        .thenNothingHappens();
    });

    it('refuses other contents with already-exists', () => {
      const changes: Partial<BackupContents>[] = [
        { sizeBytes: 2 },
        { sha256: Buffer.alloc(32, 0xff) },
        { createdAt: hoursAgo(71) },
        { provider: ICLOUD },
        { endToEndEncrypted: false, keyReference: '' },
        { keyReference: 'vault:hsm-eu/key-v4' },
        { messageCount: 1201 },
        { mediaCount: 36 },
        { mediaIds: [mediaB, mediaA] },
        { mediaIds: [mediaA] },
      ];
      for (const change of changes) {
        spec
          .given([recorded(monday)])
          .when(record({ ...monday, ...change }))
          .thenThrows('already-exists', /backup-monday is already recorded with other contents/);
      }
    });

    it('records nothing for the same contents after it was pruned or deleted, and does not bring it back', () => {
      spec
        .given([
          recorded(monday),
          recorded(tuesday),
          recorded(wednesday),
          pruned(monday.backupId, 'backup-wednesday'),
        ])
        .when(record(monday))
        .thenNothingHappens();
      spec
        .given([recorded(monday), deleted(monday.backupId)])
        .when(record(monday))
        .thenNothingHappens();
    });

    it('refuses other contents under a deleted id: ids are not reused', () => {
      spec
        .given([recorded(monday), deleted(monday.backupId)])
        .when(record({ ...monday, sizeBytes: 2 }))
        .thenThrows('already-exists');
    });
  });

  describe('retention: the newest N backups per provider are kept', () => {
    it('prunes the oldest in the command that records one more than N', () => {
      spec
        .given([recorded(monday), recorded(tuesday)])
        .when(record(wednesday))
        .then([recorded(wednesday), pruned(monday.backupId, wednesday.backupId)]);
    });

    it('keeps N of each provider apart', () => {
      spec
        .given([recorded(monday), recorded(tuesday)])
        .when(record(iphone))
        .then([recorded(iphone)]);
    });

    it('prunes a backup older than every kept one right away, recording it first', () => {
      const older = contents('backup-sunday', hoursAgo(96));
      spec
        .given([recorded(tuesday), recorded(wednesday)])
        .when(record(older))
        .then([recorded(older), pruned(older.backupId, older.backupId)]);
    });

    it('orders backups created at the same time by id, descending', () => {
      const a = contents('a', hoursAgo(5));
      const b = contents('b', hoursAgo(5));
      spec
        .given([recorded(a), recorded(b)])
        .when(record(contents('c', hoursAgo(5))))
        .then([recorded(contents('c', hoursAgo(5))), pruned('a', 'c')]);
    });

    it('prunes every backup beyond a lowered retention, newest first', () => {
      spec
        .given([recorded(monday), recorded(tuesday)])
        .when(record(wednesday, 1))
        .then([
          recorded(wednesday),
          pruned(tuesday.backupId, wednesday.backupId, DRIVE, 1),
          pruned(monday.backupId, wednesday.backupId, DRIVE, 1),
        ]);
    });

    it('keeps the default three', () => {
      spec
        .given([recorded(monday), recorded(tuesday)])
        .when(record(wednesday, 3))
        .then([recorded(wednesday)]);
    });

    it('lists the kept backups newest first', () => {
      const state = fold(backupsDecider, [
        recorded(tuesday),
        recorded(iphone),
        recorded(monday),
        recorded(wednesday),
        pruned(monday.backupId, wednesday.backupId),
      ]);
      expect(keptBackups(state).map((backup) => backup.backupId)).toEqual([
        'backup-iphone',
        'backup-wednesday',
        'backup-tuesday',
      ]);
      expect(findBackup(state, monday.backupId)).toMatchObject({ backupId: monday.backupId });
    });
  });

  describe('when the primary deletes a backup', () => {
    const deleteBackup = (backupId: string, by: Actor = primary) =>
      ({ type: 'DeleteBackup', accountId, backupId, by, now }) as const;

    it('records BackupDeleted', () => {
      spec
        .given([recorded(monday), recorded(iphone)])
        .when(deleteBackup(iphone.backupId))
        .then([deleted(iphone.backupId, ICLOUD)]);
    });

    it('lets a new primary (after the number was registered again) delete what the old one recorded', () => {
      spec
        .given([recorded(monday)])
        .when(deleteBackup(monday.backupId, { deviceId: 7, primary: true }))
        .then([
          {
            ...deleted(monday.backupId),
            value: { ...deleted(monday.backupId).value, byDeviceId: 7 },
          } as BackupDomainEvent,
        ]);
    });

    it('refuses a backup it does not have: never recorded, deleted or pruned', () => {
      spec
        .given([recorded(monday)])
        .when(deleteBackup('nope'))
        .thenThrows('not-found', /backup nope not found/);
      spec
        .given([recorded(monday), deleted(monday.backupId)])
        .when(deleteBackup(monday.backupId))
        .thenThrows('not-found');
      spec
        .given([
          recorded(monday),
          recorded(tuesday),
          recorded(wednesday),
          pruned(monday.backupId, wednesday.backupId),
        ])
        .when(deleteBackup(monday.backupId))
        .thenThrows('not-found');
    });

    it('refuses a malformed backup id', () => {
      spec
        .given([recorded(monday)])
        .when(deleteBackup(''))
        .thenThrows('invalid-argument', /^backup_id: /);
    });
  });

  describe('when the account is deleted', () => {
    const purge = { type: 'PurgeBackups', accountId, now } as const;

    it('purges every kept backup, newest first', () => {
      spec
        .given([recorded(monday), recorded(iphone), recorded(tuesday), deleted(tuesday.backupId)])
        .when(purge)
        .then([purged([iphone.backupId, monday.backupId])]);
    });

    it('purges an account without backups, so none is recorded after', () => {
      spec
        .given([])
        .when(purge)
        .then([purged([])]);
    });

    it('purges once: a redelivered AccountDeleted records nothing', () => {
      spec
        .given([recorded(monday), purged([monday.backupId])])
        .when(purge)
        .thenNothingHappens();
    });

    it('refuses recording and deleting afterwards', () => {
      spec
        .given([recorded(monday), purged([monday.backupId])])
        .when(record(tuesday))
        .thenThrows('failed-precondition', /account was deleted/);
      spec
        .given([recorded(monday), purged([monday.backupId])])
        .when({ type: 'DeleteBackup', accountId, backupId: monday.backupId, by: primary, now })
        .thenThrows('failed-precondition', /account was deleted/);
    });

    it('forgets the metadata', () => {
      const state = fold(backupsDecider, [
        recorded(monday),
        deleted(monday.backupId),
        recorded(tuesday),
        purged([tuesday.backupId]),
      ]);
      expect(keptBackups(state)).toEqual([]);
      expect(findBackup(state, monday.backupId)).toBeUndefined();
    });
  });
});
