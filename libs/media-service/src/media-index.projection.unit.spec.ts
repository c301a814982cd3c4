import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedDocumentStore } from '@tandem/documents';
import type { EventMetadata } from '@tandem/event-sourcing';
import type { MediaDomainEvent } from '@tandem/media-domain';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MediaIndexProjection, type MediaIndexRecord } from './media-index.projection';

const at = (iso: string) => new Date(iso);
const metadata = (aggregateVersion: number) => ({ aggregateVersion }) as EventMetadata;

const started: MediaDomainEvent = {
  $case: 'uploadStarted',
  value: {
    accountId: 'account-1',
    mediaId: 'media-1',
    deviceId: 1,
    sizeBytes: 1000,
    sha256: Buffer.alloc(32),
    startedAt: at('2026-12-01T10:00:00Z'),
    uploadExpiresAt: at('2026-12-02T10:00:00Z'),
  },
};
const uploaded: MediaDomainEvent = {
  $case: 'mediaUploaded',
  value: {
    accountId: 'account-1',
    mediaId: 'media-1',
    deviceId: 1,
    sizeBytes: 1000,
    sha256: Buffer.alloc(32),
    uploadedAt: at('2026-12-01T10:01:00Z'),
    expiresAt: at('2026-12-31T10:01:00Z'),
  },
};
const expired: MediaDomainEvent = {
  $case: 'mediaExpired',
  value: {
    accountId: 'account-1',
    mediaId: 'media-1',
    sizeBytes: 1000,
    expiredAt: at('2026-12-31T10:01:00Z'),
  },
};

describe('the media index', () => {
  let dataDir: string;
  let store: EmbeddedDocumentStore;
  let index: MediaIndexProjection;

  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'tandem-media-index-'));
    store = new EmbeddedDocumentStore({ dataDir });
    index = new MediaIndexProjection(store.collection<MediaIndexRecord>('media_index'));
  });
  afterEach(async () => {
    await store.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('follows an upload to its blob and its removal, counting its bytes until removed', async () => {
    await index.apply({ event: started, metadata: metadata(1) });
    expect(await index.usedBytes('account-1')).toBe(1000);
    expect((await index.due(at('2026-12-02T10:00:00Z'))).uploads.map((record) => record._id)).toEqual([
      'media-1',
    ]);

    await index.apply({ event: uploaded, metadata: metadata(2) });
    const due = await index.due(at('2026-12-02T10:00:00Z'));
    expect(due).toEqual({ uploads: [], blobs: [] });
    expect((await index.due(at('2026-12-31T10:01:00Z'))).blobs.map((record) => record._id)).toEqual([
      'media-1',
    ]);

    await index.apply({ event: expired, metadata: metadata(3) });
    expect(await index.usedBytes('account-1')).toBe(0);
    expect(await index.ofAccount('account-1')).toEqual([]);
  });

  it('changes nothing when an event comes again or an older one comes late', async () => {
    await index.apply({ event: started, metadata: metadata(1) });
    await index.apply({ event: uploaded, metadata: metadata(2) });
    await index.apply({ event: started, metadata: metadata(1) });
    await index.apply({ event: uploaded, metadata: metadata(2) });
    const [record] = await index.ofAccount('account-1');
    expect(record).toMatchObject({ status: 'uploaded', version: 2, expiresAt: '2026-12-31T10:01:00.000Z' });
  });

  it('finds the media ids of a content by its SHA-256, removed ones too', async () => {
    await index.apply({ event: started, metadata: metadata(1) });
    await index.apply({ event: uploaded, metadata: metadata(2) });
    await index.apply({ event: expired, metadata: metadata(3) });
    const records = await index.withContent('00'.repeat(32));
    expect(records.map((record) => [record._id, record.status])).toEqual([['media-1', 'removed']]);
    expect(await index.withContent('11'.repeat(32))).toEqual([]);
  });
});
