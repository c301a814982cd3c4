/**
 * Which backups keep which blobs: a backup recorded by the backups service names the media it
 * references (BackupRecorded.media_ids), and a blob past its retention is kept while any kept
 * backup references it. A backup that is deleted, pruned by the backup retention or purged with
 * its account releases its references; the blob then expires at the next sweep when it is past
 * its retention. Any account's backup may reference any media id (a backup holds the media the
 * account received, uploaded by others); media ids are unguessable, so only who was sent one can.
 */
import type { BackupEvent } from '@tandem/contracts/tandem/backups/v1/events';

type BackupDomainEvent = NonNullable<BackupEvent['event']>;

/** What a backups event changes in the references. */
export type BackupReferenceChange =
  | {
      readonly kind: 'reference';
      readonly accountId: string;
      readonly backupId: string;
      readonly mediaIds: readonly string[];
    }
  | { readonly kind: 'release'; readonly accountId: string; readonly backupId: string }
  | { readonly kind: 'release-account'; readonly accountId: string }
  | { readonly kind: 'none' };

export function backupReferenceChange(event: BackupDomainEvent): BackupReferenceChange {
  switch (event.$case) {
    case 'backupRecorded': {
      const { accountId, backupId, mediaIds } = event.value;
      return mediaIds.length === 0 ? { kind: 'none' } : { kind: 'reference', accountId, backupId, mediaIds };
    }
    case 'backupDeleted':
    case 'backupPruned':
      return { kind: 'release', accountId: event.value.accountId, backupId: event.value.backupId };
    case 'backupsPurged':
      return { kind: 'release-account', accountId: event.value.accountId };
    default:
      return { kind: 'none' };
  }
}
