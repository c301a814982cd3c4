/**
 * The blob store port: encrypted blobs and their resumable uploads, by key. The filesystem adapter
 * keeps them in the data folder (embedded mode, or one instance with a volume); the S3 adapter in
 * an S3-compatible object store (distributed mode). Keys are media ids, checked by the caller, or
 * content keys (`contentKey`: `sha256-<hex>`, kept under `blobs/sha256/<hex>`), where a completed
 * blob is moved to be stored once however many media ids name it; the store never sees an
 * encryption key or plaintext, only ciphertext.
 */

export interface BlobDigest {
  readonly sizeBytes: number;
  /** SHA-256 of the bytes, 32 bytes. */
  readonly sha256: Uint8Array;
}

export interface BlobRange {
  readonly offset: number;
  /** At least 1; the range lies within the blob. */
  readonly length: number;
}

/** Thrown by `append` when the upload holds another number of bytes than the offset given. */
export class UploadOffsetError extends Error {
  constructor(
    readonly key: string,
    readonly committedOffset: number,
    offset: number,
  ) {
    super(`upload ${key} holds ${committedOffset} bytes, not ${offset}`);
    this.name = 'UploadOffsetError';
  }
}

export interface BlobStore {
  /**
   * Bytes of the upload `key` the store holds for good (0 when none): where the next `append`
   * starts. Once the upload is complete, the blob's size.
   */
  committedBytes(key: string, sizeBytes: number): Promise<number>;
  /**
   * Appends the chunks to the upload `key` of a blob of `sizeBytes`, which must hold exactly
   * `offset` bytes (else UploadOffsetError). Resolves with the committed bytes after it, also when
   * `chunks` ends early (a lost connection): what was committed stays. A store may commit in parts
   * (S3 multipart parts of several MiB); bytes after the last committed part are then not kept, and
   * the client sends them again from the committed offset.
   */
  append(key: string, sizeBytes: number, offset: number, chunks: AsyncIterable<Uint8Array>): Promise<number>;
  /**
   * Makes the complete upload `key` the blob `key` and returns its size and SHA-256, computed from
   * the stored bytes. Doing it again returns the same.
   */
  complete(key: string, sizeBytes: number): Promise<BlobDigest>;
  /** The bytes of a range of the blob `key`, in order, in chunks of at most `chunkBytes`. */
  read(key: string, range: BlobRange, chunkBytes: number): AsyncIterable<Uint8Array>;
  /** Removes the blob and any upload of `key`; removing what is not there does nothing. */
  delete(key: string): Promise<void>;
  /**
   * Makes the complete blob `key` the blob `target` (its content key), or discards it when
   * `target` is there already (the same bytes, stored once): 'moved' or 'existed'. When neither is
   * there (moved and removed since) it does nothing: 'missing'. Moving again does nothing.
   */
  move(key: string, target: string): Promise<BlobMove>;
  /** Presigned URLs, where the store has them (S3); undefined otherwise. */
  readonly presigner?: BlobPresigner;
  close(): Promise<void>;
}

/** URLs that let a client move a blob's bytes to or from the store directly, for a while. */
export interface BlobPresigner {
  /** A URL to GET the blob `key` (a Range header selects bytes). */
  downloadUrl(key: string, expiresInSeconds: number): Promise<string>;
  /**
   * URLs to PUT the parts of the upload `key` of a blob of `sizeBytes` that the store does not
   * hold yet (starting the upload when there is none); `append` and `complete` treat the parts
   * PUT there as their own. No parts once the blob is complete.
   */
  uploadPartUrls(key: string, sizeBytes: number, expiresInSeconds: number): Promise<PresignedUploadParts>;
}

/** The parts of an upload still to PUT, each at its own presigned URL. */
export interface PresignedUploadParts {
  /** Size of every part but the last, which holds the rest. */
  readonly partBytes: number;
  readonly parts: readonly PresignedPart[];
}

export interface PresignedPart {
  /** From 1. */
  readonly partNumber: number;
  readonly offset: number;
  readonly length: number;
  readonly url: string;
}

/** What `move` found. */
export type BlobMove = 'moved' | 'existed' | 'missing';

/** Keys the stores accept: what a media id is, and nothing that walks a path. */
export const BLOB_KEY = /^[A-Za-z0-9_-]{1,128}$/;

const CONTENT_KEY = /^sha256-([0-9a-f]{64})$/;

/** The key of the blob whose bytes have this SHA-256: content addressing. */
export function contentKey(sha256: Uint8Array): string {
  if (sha256.length !== 32) throw new Error('a content key needs a 32-byte SHA-256');
  return `sha256-${Buffer.from(sha256).toString('hex')}`;
}

/**
 * Where below the blobs a blob's bytes live: `sha256/<hex>` for a content key, the key itself
 * otherwise.
 */
export function blobName(key: string): string {
  const content = CONTENT_KEY.exec(requireBlobKey(key));
  return content ? `sha256/${content[1]}` : key;
}

export function requireBlobKey(key: string): string {
  if (!BLOB_KEY.test(key)) throw new Error(`not a blob key: ${JSON.stringify(key)}`);
  return key;
}

/**
 * The chunks of an upload until they end or their source fails (the client's connection broke):
 * a failing source ends the upload's bytes there rather than failing the append, whose committed
 * bytes are the answer either way. Failures of the store itself still throw.
 */
export async function* untilBroken(chunks: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  const iterator = chunks[Symbol.asyncIterator]();
  for (;;) {
    let next: IteratorResult<Uint8Array>;
    try {
      next = await iterator.next();
    } catch {
      return;
    }
    if (next.done) return;
    yield next.value;
  }
}

/** Injection token of a service's BlobStore. */
export const BLOB_STORE = Symbol('BlobStore');
