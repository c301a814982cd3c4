import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BlobStore, contentKey, UploadOffsetError } from './blob-store.port';

const MiB = 1024 * 1024;

/** `bytes` in chunks of `chunkBytes`; throws after `failAfter` bytes, as a lost connection does. */
async function* chunksOf(bytes: Buffer, chunkBytes: number, failAfter = Infinity): AsyncIterable<Uint8Array> {
  for (let offset = 0; offset < bytes.length; offset += chunkBytes) {
    if (offset >= failAfter) throw new Error('connection lost');
    yield bytes.subarray(offset, offset + chunkBytes);
  }
}

async function readAll(chunks: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of chunks) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts);
}

let keys = 0;
const newKey = () => `contract-${process.pid}-${Date.now()}-${keys++}`;

/** The blob store port's contract; every adapter runs it. */
export function describeBlobStoreContract(adapter: string, open: () => Promise<BlobStore>): void {
  describe(`the ${adapter} blob store`, () => {
    let store: BlobStore;
    const blob = randomBytes(12 * MiB + 12_345);
    const digest = createHash('sha256').update(blob).digest();

    beforeAll(async () => {
      store = await open();
    });
    afterAll(async () => {
      await store?.close();
    });

    it('keeps an upload sent at once and completes it with the SHA-256 of the stored bytes', async () => {
      const key = newKey();
      expect(await store.committedBytes(key, blob.length)).toBe(0);
      expect(await store.append(key, blob.length, 0, chunksOf(blob, MiB))).toBe(blob.length);
      expect(await store.committedBytes(key, blob.length)).toBe(blob.length);
      const completed = await store.complete(key, blob.length);
      expect(completed.sizeBytes).toBe(blob.length);
      expect(Buffer.from(completed.sha256).equals(digest)).toBe(true);
      expect(await store.committedBytes(key, blob.length)).toBe(blob.length);
      const again = await store.complete(key, blob.length);
      expect(Buffer.from(again.sha256).equals(digest)).toBe(true);
      await store.delete(key);
    });

    it('keeps what arrived before a lost connection, refuses another offset, and resumes from the committed one', async () => {
      const key = newKey();
      const sentBefore = 7 * MiB;
      const committed = await store.append(key, blob.length, 0, chunksOf(blob, 256 * 1024, sentBefore));
      expect(committed).toBeLessThanOrEqual(sentBefore);
      expect(await store.committedBytes(key, blob.length)).toBe(committed);

      const refused = await store
        .append(key, blob.length, committed + 1, chunksOf(blob.subarray(committed + 1), MiB))
        .catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(UploadOffsetError);
      expect((refused as UploadOffsetError).committedOffset).toBe(committed);

      expect(await store.append(key, blob.length, committed, chunksOf(blob.subarray(committed), MiB))).toBe(
        blob.length,
      );
      const completed = await store.complete(key, blob.length);
      expect(Buffer.from(completed.sha256).equals(digest)).toBe(true);
      expect((await readAll(store.read(key, { offset: 0, length: blob.length }, MiB))).equals(blob)).toBe(
        true,
      );
      await store.delete(key);
    });

    it('reads ranges in chunks of at most the given size', async () => {
      const key = newKey();
      await store.append(key, blob.length, 0, chunksOf(blob, MiB));
      await store.complete(key, blob.length);
      const chunks: Uint8Array[] = [];
      for await (const chunk of store.read(key, { offset: 5 * MiB + 3, length: 2 * MiB + 10 }, 512 * 1024)) {
        chunks.push(chunk);
      }
      expect(chunks.every((chunk) => chunk.length <= 512 * 1024)).toBe(true);
      expect(Buffer.concat(chunks).equals(blob.subarray(5 * MiB + 3, 7 * MiB + 13))).toBe(true);
      expect(
        (await readAll(store.read(key, { offset: blob.length - 1, length: 1 }, MiB))).equals(
          blob.subarray(-1),
        ),
      ).toBe(true);
      await store.delete(key);
    });

    it('deletes a blob and an unfinished upload, and deleting again does nothing', async () => {
      const done = newKey();
      await store.append(done, 1000, 0, chunksOf(blob.subarray(0, 1000), 1000));
      await store.complete(done, 1000);
      const unfinished = newKey();
      await store.append(unfinished, blob.length, 0, chunksOf(blob, MiB, 6 * MiB));
      await store.delete(done);
      await store.delete(unfinished);
      await store.delete(unfinished);
      expect(await store.committedBytes(done, 1000)).toBe(0);
      expect(await store.committedBytes(unfinished, blob.length)).toBe(0);
      await expect(readAll(store.read(done, { offset: 0, length: 1000 }, MiB))).rejects.toThrow();
    });

    it('moves a complete blob to its content key, stores the same bytes sent again once, and moves again harmlessly', async () => {
      const small = randomBytes(70_000);
      const target = contentKey(createHash('sha256').update(small).digest());
      const first = newKey();
      const second = newKey();
      for (const key of [first, second]) {
        await store.append(key, small.length, 0, chunksOf(small, 16_384));
        await store.complete(key, small.length);
      }
      expect(await store.move(first, target)).toBe('moved');
      expect(await store.move(second, target)).toBe('existed');
      expect(await store.move(first, target)).toBe('existed');
      for (const key of [first, second]) {
        expect(await store.committedBytes(key, small.length)).toBe(0);
        await expect(readAll(store.read(key, { offset: 0, length: 1 }, MiB))).rejects.toThrow();
      }
      expect(await store.committedBytes(target, small.length)).toBe(small.length);
      expect(
        (await readAll(store.read(target, { offset: 0, length: small.length }, MiB))).equals(small),
      ).toBe(true);
      await store.delete(target);
      expect(await store.move(first, target)).toBe('missing');
      await expect(readAll(store.read(target, { offset: 0, length: 1 }, MiB))).rejects.toThrow();
    });

    it('keeps a small blob sent in one part', async () => {
      const key = newKey();
      const small = Buffer.from('one small ciphertext');
      expect(await store.append(key, small.length, 0, chunksOf(small, 4))).toBe(small.length);
      expect((await store.complete(key, small.length)).sizeBytes).toBe(small.length);
      expect((await readAll(store.read(key, { offset: 4, length: 5 }, MiB))).toString()).toBe('small');
      await store.delete(key);
    });
  });
}
