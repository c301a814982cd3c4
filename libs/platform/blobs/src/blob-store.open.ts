import type { S3Config } from '@tandem/config';
import { FilesystemBlobStore } from './blob-store.filesystem';
import type { BlobStore } from './blob-store.port';
import { S3BlobStore } from './blob-store.s3';

/**
 * The blob store the configuration names: the S3-compatible object store (with `ensureBucket`, to
 * run before serving), else `folder` on this machine.
 */
export function openBlobStore(
  s3: S3Config | undefined,
  folder: string,
): BlobStore & { ensureBucket?: () => Promise<void> } {
  if (!s3) return new FilesystemBlobStore(folder);
  return new S3BlobStore({
    endpoint: s3.endpoint,
    region: s3.region,
    bucket: s3.bucket,
    credentials: s3.credentials,
    forcePathStyle: s3.forcePathStyle,
  });
}
