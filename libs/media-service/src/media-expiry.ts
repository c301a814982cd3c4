import { randomUUID } from 'node:crypto';
import type { MediaCommands } from './media.commands';
import type { BackupReferencesProjection } from './backup-references.projection';
import type { MediaIndexProjection } from './media-index.projection';

/**
 * The expiry sweep: uploads not completed by their upload expiry and blobs past their retention
 * are removed (a blob only when no kept backup references it), each by its own command (which records nothing when the time has not come, or when
 * it was removed already), so the sweep may run on every instance and again after a crash.
 */
export class MediaExpiry {
  constructor(
    private readonly commands: MediaCommands,
    private readonly index: MediaIndexProjection,
    private readonly references: BackupReferencesProjection,
  ) {}

  async sweep(now = new Date()): Promise<number> {
    const { uploads, blobs } = await this.index.due(now);
    const context = { correlationId: randomUUID(), causationId: randomUUID() };
    let removed = 0;
    for (const upload of uploads) {
      removed += (await this.commands.expireUpload(upload._id, now, context)).events.length;
    }
    for (const blob of blobs) {
      const referenced = await this.references.isReferenced(blob._id);
      removed += (await this.commands.expireMedia(blob._id, now, referenced, context)).events.length;
    }
    return removed;
  }
}
