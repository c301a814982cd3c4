import type { Document, DocumentCollection } from '@tandem/documents';
import type { ReceivedEvent } from '@tandem/event-sourcing';
import { backupReferenceChange } from '@tandem/media-domain';
import { defineProjection, eventFeed } from '@tandem/runtime';
import { backupEventCodec } from './media.codecs';

type BackupEvent = ReturnType<typeof backupEventCodec.decode>;

/** One media id referenced by one kept backup. */
export interface BackupReference extends Document {
  readonly mediaId: string;
  readonly accountId: string;
  readonly backupId: string;
}

/**
 * The media ids kept backups reference, from tandem.backups.events: one document per media id and
 * backup (so concurrent backups of different accounts never overwrite each other's references),
 * inserted when the backup is recorded and deleted when it is deleted, pruned or purged. Inserting
 * or deleting again changes nothing, so a redelivered event is harmless; an account's events
 * arrive in order, so a backup's release always follows its recording.
 */
export class BackupReferencesProjection {
  constructor(private readonly references: DocumentCollection<BackupReference>) {}

  async ensureIndexes(): Promise<void> {
    await this.references.ensureIndex(['mediaId']);
    await this.references.ensureIndex(['accountId', 'backupId']);
  }

  async apply({ event }: ReceivedEvent<BackupEvent>): Promise<void> {
    const change = backupReferenceChange(event);
    switch (change.kind) {
      case 'reference':
        await this.references.insertNew(
          change.mediaIds.map((mediaId) => ({
            _id: `${mediaId}/${change.accountId}/${change.backupId}`,
            mediaId,
            accountId: change.accountId,
            backupId: change.backupId,
          })),
        );
        return;
      case 'release':
        await this.references.deleteMany({ accountId: change.accountId, backupId: change.backupId });
        return;
      case 'release-account':
        await this.references.deleteMany({ accountId: change.accountId });
        return;
      case 'none':
        return;
    }
  }

  /** Whether a kept backup references the media. */
  async isReferenced(mediaId: string): Promise<boolean> {
    return (await this.references.findOne({ mediaId })) !== null;
  }
}

/** The media kept backups reference, kept by the group `media.backup-references`. */
export const backupReferences = defineProjection({
  name: 'backup-references',
  collections: ['backup_references'],
  feeds: [
    eventFeed<BackupEvent, BackupReferencesProjection>('backups', 'backup-references', backupEventCodec),
  ],
  create: (store) => new BackupReferencesProjection(store.collection('backup_references')),
});
