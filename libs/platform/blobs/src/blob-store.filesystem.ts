import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  blobName,
  type BlobMove,
  untilBroken,
  type BlobDigest,
  type BlobRange,
  type BlobStore,
  requireBlobKey,
  UploadOffsetError,
} from './blob-store.port';

async function sizeOf(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * Blobs in a folder (embedded mode: `<data folder>/media`): an upload is the file
 * `uploads/<key>`, appended to and synced to the disk before `append` resolves; completing it
 * renames it to `blobs/<key>`, and moving it to its content key renames it to
 * `blobs/sha256/<hex>`. Every byte written is committed.
 */
export class FilesystemBlobStore implements BlobStore {
  private readonly uploads: string;
  private readonly blobs: string;
  private ready: Promise<unknown> | undefined;

  constructor(root: string) {
    this.uploads = join(root, 'uploads');
    this.blobs = join(root, 'blobs');
  }

  private folders(): Promise<unknown> {
    this.ready ??= Promise.all([
      mkdir(this.uploads, { recursive: true }),
      mkdir(join(this.blobs, 'sha256'), { recursive: true }),
    ]);
    return this.ready;
  }

  private uploadPath = (key: string) => join(this.uploads, requireBlobKey(key));
  private blobPath = (key: string) => join(this.blobs, blobName(key));

  async committedBytes(key: string, _sizeBytes?: number): Promise<number> {
    return (await sizeOf(this.uploadPath(key))) ?? (await sizeOf(this.blobPath(key))) ?? 0;
  }

  async append(
    key: string,
    _sizeBytes: number,
    offset: number,
    chunks: AsyncIterable<Uint8Array>,
  ): Promise<number> {
    await this.folders();
    const file = await open(this.uploadPath(key), 'a');
    try {
      const { size } = await file.stat();
      if (size !== offset) throw new UploadOffsetError(key, size, offset);
      let written = size;
      try {
        for await (const chunk of untilBroken(chunks)) {
          const { bytesWritten } = await file.write(chunk);
          written += bytesWritten;
        }
      } finally {
        await file.sync();
      }
      return written;
    } finally {
      await file.close();
    }
  }

  async complete(key: string, _sizeBytes?: number): Promise<BlobDigest> {
    await this.folders();
    const upload = this.uploadPath(key);
    if ((await sizeOf(upload)) !== undefined) {
      await rename(upload, this.blobPath(key));
    }
    const hash = createHash('sha256');
    let sizeBytes = 0;
    for await (const chunk of createReadStream(this.blobPath(key), { highWaterMark: 1024 * 1024 })) {
      hash.update(chunk as Buffer);
      sizeBytes += (chunk as Buffer).length;
    }
    return { sizeBytes, sha256: hash.digest() };
  }

  async *read(key: string, range: BlobRange, chunkBytes: number): AsyncIterable<Uint8Array> {
    const stream = createReadStream(this.blobPath(key), {
      start: range.offset,
      end: range.offset + range.length - 1,
      highWaterMark: chunkBytes,
    });
    for await (const chunk of stream) yield chunk as Buffer;
  }

  async delete(key: string): Promise<void> {
    await Promise.all([rm(this.uploadPath(key), { force: true }), rm(this.blobPath(key), { force: true })]);
  }

  async move(key: string, target: string): Promise<BlobMove> {
    await this.folders();
    const from = this.blobPath(key);
    const to = this.blobPath(target);
    if ((await sizeOf(to)) !== undefined) {
      await rm(from, { force: true });
      return 'existed';
    }
    try {
      await rename(from, to);
      return 'moved';
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      return (await sizeOf(to)) === undefined ? 'missing' : 'existed';
    }
  }

  async close(): Promise<void> {}
}
