import { type BlobStore, contentKey } from '@tandem/blobs';
import type { Uploaded } from '@tandem/media-domain';

/**
 * Where the bytes of an uploaded media are: under its content key once moved there (at the end of
 * its upload, or by the blob janitor after a crash in between), under its media id until then.
 */
export async function storedBlobKey(blobs: BlobStore, media: Uploaded): Promise<string> {
  const key = contentKey(media.sha256);
  return (await blobs.committedBytes(key, media.sizeBytes)) === media.sizeBytes ? key : media.mediaId;
}
