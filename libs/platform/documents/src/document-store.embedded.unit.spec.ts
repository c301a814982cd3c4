import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeDocumentStoreContract } from './document-store.contract';
import { EmbeddedDocumentStore } from './document-store.embedded';

describeDocumentStoreContract('embedded', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'tandem-documents-'));
  return {
    open: async () => new EmbeddedDocumentStore({ dataDir }),
    dispose: () => rm(dataDir, { recursive: true, force: true }),
  };
});

describe('the embedded document store, beyond the port', () => {
  it('refuses to filter on a field name it cannot turn into a JSON path', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'tandem-documents-'));
    const store = new EmbeddedDocumentStore({ dataDir });
    try {
      await expect(store.collection('devices').find({ "it's": 'x' })).rejects.toThrow(/cannot be filtered/);
    } finally {
      await store.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
