import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { describeBlobStoreContract } from './blob-store.contract';
import { FilesystemBlobStore } from './blob-store.filesystem';

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
});
