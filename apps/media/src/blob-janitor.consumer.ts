import type { BlobStore } from '@tandem/blobs';
import type { ReceivedEvent } from '@tandem/event-sourcing';
import type { MediaDomainEvent } from '@tandem/media-domain';

/**
 * Removes the bytes of uploads and blobs whose removal was recorded (UploadExpired, MediaExpired,
 * MediaPurged, MediaDiscarded), from tandem.media.events: at least once, and removing again does nothing.
 */
export class BlobJanitor {
  constructor(private readonly blobs: BlobStore) {}

  async apply({ event }: ReceivedEvent<MediaDomainEvent>): Promise<void> {
    if (
      event.$case === 'uploadExpired' ||
      event.$case === 'mediaExpired' ||
      event.$case === 'mediaPurged' ||
      event.$case === 'mediaDiscarded'
    ) {
      await this.blobs.delete(event.value.mediaId);
    }
  }
}
