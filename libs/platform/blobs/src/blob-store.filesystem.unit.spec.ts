import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { describeBlobStoreContract } from './blob-store.contract';
import { FilesystemBlobStore } from './blob-store.filesystem';
import { contentKey } from './blob-store.port';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';

const folders: string[] = [];
afterAll(() => Promise.all(folders.map((folder) => rm(folder, { recursive: true, force: true }))));

describeBlobStoreContract('filesystem', async () => {
  const folder = await mkdtemp(join(tmpdir(), 'tandem-blobs-'));
  folders.push(folder);
  return new FilesystemBlobStore(folder);
});

describe('the filesystem blob store, beyond the port', () => {
  it('refuses a key that could leave its folder', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'tandem-blobs-'));
    folders.push(folder);
    const store = new FilesystemBlobStore(folder);
    await expect(store.committedBytes('../outside', 1)).rejects.toThrow(/not a blob key/);
  });

  it('keeps a content-addressed blob under blobs/sha256/<hex>', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'tandem-blobs-'));
    folders.push(folder);
    const store = new FilesystemBlobStore(folder);
    const bytes = Buffer.from('a forwarded photo, encrypted');
    const sha256 = createHash('sha256').update(bytes).digest();
    await store.append(
      'media-1',
      bytes.length,
      0,
      (async function* () {
        yield bytes;
      })(),
    );
    await store.complete('media-1', bytes.length);
    expect(await store.move('media-1', contentKey(sha256))).toBe('moved');
    expect(existsSync(join(folder, 'blobs', 'sha256', sha256.toString('hex')))).toBe(true);
    expect(existsSync(join(folder, 'blobs', 'media-1'))).toBe(false);
  });
});
