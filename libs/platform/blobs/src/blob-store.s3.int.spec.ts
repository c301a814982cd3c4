import { createHash } from 'node:crypto';
import { testS3, uniqueBucket } from '@tandem/testing';
import { describe, expect, it } from 'vitest';
import { describeBlobStoreContract } from './blob-store.contract';
import { S3BlobStore } from './blob-store.s3';

const open = async (bucket: string) => {
  const s3 = testS3();
  const store = new S3BlobStore({
    endpoint: s3.endpoint,
    region: s3.region,
    bucket,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    forcePathStyle: true,
    partBytes: 5 * 1024 * 1024,
  });
  await store.ensureBucket();
  return store;
};

describeBlobStoreContract('S3 (S3Proxy)', () => open(uniqueBucket('blobs')));

describe('the S3 blob store, beyond the port', () => {
  it('continues an upload another instance started, from the parts S3 holds', async () => {
    const bucket = uniqueBucket('blobs');
    const first = await open(bucket);
    const second = await open(bucket);
    const bytes = Buffer.alloc(6 * 1024 * 1024, 7);
    async function* once(chunk: Buffer) {
      yield chunk;
    }
    expect(await first.append('shared', bytes.length, 0, once(bytes.subarray(0, 5 * 1024 * 1024)))).toBe(
      5 * 1024 * 1024,
    );
    expect(await second.committedBytes('shared', bytes.length)).toBe(5 * 1024 * 1024);
    expect(
      await second.append('shared', bytes.length, 5 * 1024 * 1024, once(bytes.subarray(5 * 1024 * 1024))),
    ).toBe(bytes.length);
    expect((await second.complete('shared', bytes.length)).sizeBytes).toBe(bytes.length);
    expect(await first.committedBytes('shared', bytes.length)).toBe(bytes.length);
    const url = await first.presigner.downloadUrl('shared', 60);
    const response = await fetch(url, { headers: { range: 'bytes=0-9' } });
    expect(response.status).toBe(206);
    expect(Buffer.from(await response.arrayBuffer()).equals(bytes.subarray(0, 10))).toBe(true);
    await first.close();
    await second.close();
  });

  it('gives presigned URLs for the parts it does not hold, and completes what was PUT there', async () => {
    const MiB = 1024 * 1024;
    const store = await open(uniqueBucket('blobs'));
    const bytes = Buffer.alloc(12 * MiB + 3, 9);
    bytes.write('first', 0);
    bytes.write('last', bytes.length - 4);
    const put = async (url: string, body: Buffer) => {
      const response = await fetch(url, { method: 'PUT', body });
      expect(response.status).toBe(200);
    };
    const first = await store.presigner.uploadPartUrls('direct', bytes.length, 60);
    expect(first.partBytes).toBe(5 * MiB);
    expect(first.parts.map(({ partNumber, offset, length }) => ({ partNumber, offset, length }))).toEqual([
      { partNumber: 1, offset: 0, length: 5 * MiB },
      { partNumber: 2, offset: 5 * MiB, length: 5 * MiB },
      { partNumber: 3, offset: 10 * MiB, length: 2 * MiB + 3 },
    ]);
    // A body of another size than the part's is refused: the URL signs its length.
    const tooLong = await fetch(first.parts[2]!.url, { method: 'PUT', body: bytes.subarray(10 * MiB - 1) });
    expect(tooLong.status).toBe(403);
    // Parts 1 and 3 arrive, part 2 is cut off: asking again answers part 2 only.
    await put(first.parts[0]!.url, bytes.subarray(0, 5 * MiB));
    await put(first.parts[2]!.url, bytes.subarray(10 * MiB));
    const again = await store.presigner.uploadPartUrls('direct', bytes.length, 60);
    expect(again.parts.map((part) => part.partNumber)).toEqual([2]);
    expect(await store.committedBytes('direct', bytes.length)).toBe(5 * MiB);
    await put(again.parts[0]!.url, bytes.subarray(5 * MiB, 10 * MiB));
    expect(await store.committedBytes('direct', bytes.length)).toBe(bytes.length);
    const digest = await store.complete('direct', bytes.length);
    expect(digest.sizeBytes).toBe(bytes.length);
    expect(Buffer.from(digest.sha256).equals(createHash('sha256').update(bytes).digest())).toBe(true);
    expect((await store.presigner.uploadPartUrls('direct', bytes.length, 60)).parts).toEqual([]);
    await store.close();
  });
});
