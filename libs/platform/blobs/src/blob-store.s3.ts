import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListPartsCommand,
  type Part,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import {
  blobName,
  type BlobDigest,
  type BlobMove,
  type BlobPresigner,
  type BlobRange,
  type BlobStore,
  type PresignedUploadParts,
  requireBlobKey,
  UploadOffsetError,
  untilBroken,
} from './blob-store.port';

export interface S3BlobStoreOptions {
  /** The S3 API's URL, e.g. http://127.0.0.1:8333; AWS's own endpoint for the region when unset. */
  readonly endpoint?: string;
  readonly region: string;
  readonly bucket: string;
  /** Keys of the S3 API; the SDK's default chain (environment, profile, web identity) when unset. */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /** Bucket in the path rather than the host name, as most S3-compatible servers want. */
  readonly forcePathStyle: boolean;
  /** Size of the multipart upload's parts (S3's minimum, 5 MiB, and more); 8 MiB by default. */
  readonly partBytes?: number;
}

const MiB = 1024 * 1024;

const notFound = (error: unknown) =>
  error instanceof S3ServiceException &&
  (error.$metadata.httpStatusCode === 404 || error.name === 'NotFound' || error.name === 'NoSuchKey');

interface OpenUpload {
  readonly uploadId: string;
  /** The parts S3 holds, in order, from part 1 without gaps. */
  readonly parts: readonly Part[];
  readonly committed: number;
}

/**
 * Blobs in an S3-compatible object store (distributed mode): the blob `k` is the object
 * `blobs/k`. An upload is an S3 multipart upload of that object, its id kept in the small object
 * `uploads/k` so that any instance can continue it; chunks are gathered into parts of `partBytes`
 * (the last part may be smaller), and a part is committed once S3 has it. Bytes of a part cut off
 * by a lost connection are not kept: the client sends them again from the committed offset.
 * Completing finishes the multipart upload and reads the object back to compute its SHA-256;
 * moving it to its content key copies it server-side (CopyObject) to `blobs/sha256/<hex>` and
 * deletes the original.
 */
export class S3BlobStore implements BlobStore {
  private readonly client: S3Client;
  private readonly partBytes: number;
  readonly presigner: BlobPresigner;

  constructor(private readonly options: S3BlobStoreOptions) {
    this.client = new S3Client({
      region: options.region,
      endpoint: options.endpoint,
      credentials: options.credentials,
      forcePathStyle: options.forcePathStyle,
      // Checksum headers only where S3 requires them: S3-compatible servers (S3Proxy, older
      // MinIO-likes) refuse the CRC headers the SDK adds by default with NotImplemented, and the
      // service checks every blob's SHA-256 itself.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    this.partBytes = Math.max(options.partBytes ?? 8 * MiB, 5 * MiB);
    this.presigner = {
      downloadUrl: (key, expiresIn) =>
        getSignedUrl(
          this.client,
          new GetObjectCommand({ Bucket: this.options.bucket, Key: this.blobKey(key) }),
          {
            expiresIn,
          },
        ),
      uploadPartUrls: (key, sizeBytes, expiresIn) => this.uploadPartUrls(key, sizeBytes, expiresIn),
    };
  }

  /** Creates the bucket when it does not exist (a deployment usually creates it beforehand). */
  async ensureBucket(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.options.bucket }));
    } catch (error) {
      if (!notFound(error)) throw error;
      await this.client.send(new CreateBucketCommand({ Bucket: this.options.bucket }));
    }
  }

  private blobKey = (key: string) => `blobs/${blobName(key)}`;
  private uploadKey = (key: string) => `uploads/${requireBlobKey(key)}`;

  private async blobSize(key: string): Promise<number | undefined> {
    try {
      const head = await this.client.send(
        new HeadObjectCommand({ Bucket: this.options.bucket, Key: this.blobKey(key) }),
      );
      return head.ContentLength ?? 0;
    } catch (error) {
      if (notFound(error)) return undefined;
      throw error;
    }
  }

  private async uploadIdOf(key: string): Promise<string | undefined> {
    try {
      const marker = await this.client.send(
        new GetObjectCommand({ Bucket: this.options.bucket, Key: this.uploadKey(key) }),
      );
      return (await marker.Body?.transformToString())?.trim() || undefined;
    } catch (error) {
      if (notFound(error)) return undefined;
      throw error;
    }
  }

  private async openUpload(key: string): Promise<OpenUpload | undefined> {
    const uploadId = await this.uploadIdOf(key);
    if (!uploadId) return undefined;
    const parts = await this.partsOf(key, uploadId);
    const contiguous: Part[] = [];
    for (const part of parts) {
      if (part.PartNumber !== contiguous.length + 1) break;
      contiguous.push(part);
    }
    const committed = contiguous.reduce((sum, part) => sum + (part.Size ?? 0), 0);
    return { uploadId, parts: contiguous, committed };
  }

  /** Every part S3 holds of the multipart upload, gaps and all, by part number. */
  private async partsOf(key: string, uploadId: string): Promise<Part[]> {
    const parts: Part[] = [];
    let marker: string | undefined;
    for (;;) {
      const page = await this.client.send(
        new ListPartsCommand({
          Bucket: this.options.bucket,
          Key: this.blobKey(key),
          UploadId: uploadId,
          PartNumberMarker: marker,
        }),
      );
      parts.push(...(page.Parts ?? []));
      if (!page.IsTruncated) break;
      marker = page.NextPartNumberMarker;
    }
    return parts.sort((a, b) => (a.PartNumber ?? 0) - (b.PartNumber ?? 0));
  }

  private async createUpload(key: string): Promise<OpenUpload> {
    const created = await this.client.send(
      new CreateMultipartUploadCommand({ Bucket: this.options.bucket, Key: this.blobKey(key) }),
    );
    const uploadId = created.UploadId as string;
    await this.client.send(
      new PutObjectCommand({ Bucket: this.options.bucket, Key: this.uploadKey(key), Body: uploadId }),
    );
    return { uploadId, parts: [], committed: 0 };
  }

  /**
   * Presigned UploadPart URLs for the parts of `partBytes` (the last one the rest) that S3 does
   * not hold with their size yet: the same parts `append` sends, so either way of uploading
   * continues the other's. Each URL signs the part's Content-Length, so S3 refuses a body of
   * another size (403) and no bytes past the declared size reach the store.
   */
  private async uploadPartUrls(
    key: string,
    sizeBytes: number,
    expiresIn: number,
  ): Promise<PresignedUploadParts> {
    if ((await this.blobSize(key)) !== undefined) return { partBytes: this.partBytes, parts: [] };
    const uploadId = (await this.uploadIdOf(key)) ?? (await this.createUpload(key)).uploadId;
    const held = new Map((await this.partsOf(key, uploadId)).map((part) => [part.PartNumber, part.Size]));
    const parts = [];
    for (let partNumber = 1, offset = 0; offset < sizeBytes; partNumber++, offset += this.partBytes) {
      const length = Math.min(this.partBytes, sizeBytes - offset);
      if (held.get(partNumber) === length) continue;
      const url = await getSignedUrl(
        this.client,
        new UploadPartCommand({
          Bucket: this.options.bucket,
          Key: this.blobKey(key),
          UploadId: uploadId,
          PartNumber: partNumber,
          // Signed: the URL takes exactly the part's bytes, none past the declared size.
          ContentLength: length,
        }),
        { expiresIn },
      );
      parts.push({ partNumber, offset, length, url });
    }
    return { partBytes: this.partBytes, parts };
  }

  async committedBytes(key: string, _sizeBytes?: number): Promise<number> {
    return (await this.blobSize(key)) ?? (await this.openUpload(key))?.committed ?? 0;
  }

  async append(
    key: string,
    sizeBytes: number,
    offset: number,
    chunks: AsyncIterable<Uint8Array>,
  ): Promise<number> {
    const done = await this.blobSize(key);
    let upload = done === undefined ? await this.openUpload(key) : undefined;
    const committedBefore = done ?? upload?.committed ?? 0;
    if (committedBefore !== offset) throw new UploadOffsetError(key, committedBefore, offset);
    upload ??= await this.createUpload(key);
    let committed = upload.committed;
    let partNumber = upload.parts.length + 1;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const flush = async () => {
      await this.client.send(
        new UploadPartCommand({
          Bucket: this.options.bucket,
          Key: this.blobKey(key),
          UploadId: upload.uploadId,
          PartNumber: partNumber,
          Body: Buffer.concat(pending, pendingBytes),
          ContentLength: pendingBytes,
        }),
      );
      partNumber += 1;
      committed += pendingBytes;
      pending = [];
      pendingBytes = 0;
    };
    for await (const chunk of untilBroken(chunks)) {
      let rest = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      while (rest.length > 0) {
        const take = Math.min(rest.length, this.partBytes - pendingBytes);
        pending.push(rest.subarray(0, take));
        pendingBytes += take;
        rest = rest.subarray(take);
        if (pendingBytes === this.partBytes || committed + pendingBytes === sizeBytes) await flush();
      }
    }
    return committed;
  }

  async complete(key: string, sizeBytes: number): Promise<BlobDigest> {
    if ((await this.blobSize(key)) === undefined) {
      const upload = await this.openUpload(key);
      if (!upload || upload.committed !== sizeBytes) {
        throw new Error(`upload ${key} holds ${upload?.committed ?? 0} of ${sizeBytes} bytes`);
      }
      await this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.options.bucket,
          Key: this.blobKey(key),
          UploadId: upload.uploadId,
          MultipartUpload: { Parts: upload.parts.map(({ PartNumber, ETag }) => ({ PartNumber, ETag })) },
        }),
      );
      await this.client.send(
        new DeleteObjectCommand({ Bucket: this.options.bucket, Key: this.uploadKey(key) }),
      );
    }
    const hash = createHash('sha256');
    let size = 0;
    const object = await this.client.send(
      new GetObjectCommand({ Bucket: this.options.bucket, Key: this.blobKey(key) }),
    );
    for await (const chunk of object.Body as Readable) {
      hash.update(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
    return { sizeBytes: size, sha256: hash.digest() };
  }

  async *read(key: string, range: BlobRange, chunkBytes: number): AsyncIterable<Uint8Array> {
    const object = await this.client.send(
      new GetObjectCommand({
        Bucket: this.options.bucket,
        Key: this.blobKey(key),
        Range: `bytes=${range.offset}-${range.offset + range.length - 1}`,
      }),
    );
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    for await (const piece of object.Body as Readable) {
      let rest = piece as Buffer;
      while (rest.length > 0) {
        const take = Math.min(rest.length, chunkBytes - pendingBytes);
        pending.push(rest.subarray(0, take));
        pendingBytes += take;
        rest = rest.subarray(take);
        if (pendingBytes === chunkBytes) {
          yield Buffer.concat(pending, pendingBytes);
          pending = [];
          pendingBytes = 0;
        }
      }
    }
    if (pendingBytes > 0) yield Buffer.concat(pending, pendingBytes);
  }

  async delete(key: string): Promise<void> {
    const uploadId = await this.uploadIdOf(key);
    if (uploadId) {
      await this.client
        .send(
          new AbortMultipartUploadCommand({
            Bucket: this.options.bucket,
            Key: this.blobKey(key),
            UploadId: uploadId,
          }),
        )
        .catch((error: unknown) => {
          if (!notFound(error)) throw error;
        });
      await this.client.send(
        new DeleteObjectCommand({ Bucket: this.options.bucket, Key: this.uploadKey(key) }),
      );
    }
    await this.client.send(new DeleteObjectCommand({ Bucket: this.options.bucket, Key: this.blobKey(key) }));
  }

  async move(key: string, target: string): Promise<BlobMove> {
    const from = this.blobKey(key);
    const deleteSource = () =>
      this.client.send(new DeleteObjectCommand({ Bucket: this.options.bucket, Key: from }));
    if ((await this.blobSize(target)) !== undefined) {
      await deleteSource();
      return 'existed';
    }
    try {
      await this.client.send(
        new CopyObjectCommand({
          Bucket: this.options.bucket,
          Key: this.blobKey(target),
          CopySource: `${this.options.bucket}/${from}`,
        }),
      );
    } catch (error) {
      if (!notFound(error)) throw error;
      return (await this.blobSize(target)) === undefined ? 'missing' : 'existed';
    }
    await deleteSource();
    return 'moved';
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
