import { type BlobStore, contentKey } from '@tandem/blobs';
import type { ReceivedEvent } from '@tandem/event-sourcing';
import { contentReleased, type MediaDomainEvent } from '@tandem/media-domain';
import type { MediaCommands } from './media.commands';
import type { MediaIndexProjection } from './media-index.projection';

/**
 * Keeps the blob store in step with tandem.media.events, at least once, each step harmless when
 * repeated: an uploaded blob is moved to its content key (the Upload that completed it did so
 * already unless it failed in between); the bytes of uploads and blobs whose removal was recorded
 * (UploadExpired, MediaExpired, MediaPurged, MediaDiscarded) are removed, and their content once
 * no other media id of the same SHA-256 is uploading or uploaded (the media index finds those,
 * the event store says where each stands).
 */
export class BlobJanitor {
  constructor(
    private readonly blobs: BlobStore,
    private readonly commands: MediaCommands,
    private readonly index: MediaIndexProjection,
  ) {}

  async apply({ event }: ReceivedEvent<MediaDomainEvent>): Promise<void> {
    if (event.$case === 'mediaUploaded') {
      await this.blobs.move(event.value.mediaId, contentKey(event.value.sha256));
      return;
    }
    if (
      event.$case !== 'uploadExpired' &&
      event.$case !== 'mediaExpired' &&
      event.$case !== 'mediaPurged' &&
      event.$case !== 'mediaDiscarded'
    ) {
      return;
    }
    const { mediaId } = event.value;
    await this.blobs.delete(mediaId);
    const removed = await this.commands.state(mediaId);
    if (removed.status !== 'removed') return;
    const others = (await this.index.withContent(Buffer.from(removed.sha256).toString('hex'))).filter(
      (record) => record._id !== mediaId && record.status !== 'removed',
    );
    const states = await Promise.all(others.map((record) => this.commands.state(record._id)));
    if (contentReleased(states)) await this.blobs.delete(contentKey(removed.sha256));
  }
}
