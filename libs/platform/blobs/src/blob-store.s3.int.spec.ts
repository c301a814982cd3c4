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
});
