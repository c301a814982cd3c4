import { HistoryBundleEndReason } from '@tandem/contracts/tandem/media/v1/events';
import type { MediaDomainEvent } from '@tandem/media-domain';
import { describeProjection, eventsOn } from '@tandem/projection-testing';
import { expect } from 'vitest';
import { MediaIndexProjection } from './media-index.projection';

const onMedia = eventsOn<MediaDomainEvent>('tandem.media.events', 'tandem.media.v1.MediaEvent');
const at = (minute: number) => new Date(Date.UTC(2026, 10, 25, 10, minute));
const hex = (fill: number) => Buffer.alloc(32, fill).toString('hex');

/** Media events are keyed by the uploading account; each media id (and bundle id) is a stream. */
const media = (accountId: string, stream: string, version: number, event: MediaDomainEvent) =>
  onMedia(event, stream, version, { partitionKey: accountId });

const started = (accountId: string, mediaId: string, sizeBytes: number, fill = 1) =>
  media(accountId, mediaId, 1, {
    $case: 'uploadStarted',
    value: {
      accountId,
      mediaId,
      deviceId: 1,
      sizeBytes,
      sha256: Buffer.alloc(32, fill),
      startedAt: at(0),
      uploadExpiresAt: at(60),
    },
  });
const uploaded = (accountId: string, mediaId: string, sizeBytes: number, fill = 1) =>
  media(accountId, mediaId, 2, {
    $case: 'mediaUploaded',
    value: {
      accountId,
      mediaId,
      deviceId: 1,
      sizeBytes,
      sha256: Buffer.alloc(32, fill),
      uploadedAt: at(1),
      expiresAt: at(600),
    },
  });

describeProjection({
  name: 'media index',
  create: async (store) => {
    const index = new MediaIndexProjection(store.collection('media_index'));
    await index.ensureIndexes();
    return index;
  },
  apply: (index, event) => index.apply(event),
  collections: ['media_index'],
  history: [
    started('acc-a', 'm-expired', 1000),
    started('acc-a', 'm-kept', 2000, 2),
    uploaded('acc-a', 'm-expired', 1000),
    started('acc-b', 'm-rejected', 3000, 3),
    uploaded('acc-a', 'm-kept', 2000, 2),
    media('acc-b', 'm-rejected', 2, {
      $case: 'uploadRejected',
      value: {
        accountId: 'acc-b',
        mediaId: 'm-rejected',
        deviceId: 1,
        receivedSha256: Buffer.alloc(32, 9),
        rejectedAt: at(2),
      },
    }),
    media('acc-a', 'm-expired', 3, {
      $case: 'mediaExpired',
      value: { accountId: 'acc-a', mediaId: 'm-expired', sizeBytes: 1000, expiredAt: at(600) },
    }),
    started('acc-b', 'm-abandoned', 4000, 4),
    media('acc-b', 'm-abandoned', 2, {
      $case: 'uploadExpired',
      value: { accountId: 'acc-b', mediaId: 'm-abandoned', expiredAt: at(60) },
    }),
    started('acc-c', 'm-purged', 5000, 5),
    uploaded('acc-c', 'm-purged', 5000, 5),
    media('acc-c', 'm-purged', 3, {
      $case: 'mediaPurged',
      value: { accountId: 'acc-c', mediaId: 'm-purged', purgedAt: at(30) },
    }),
    media('acc-c', 'bundle-1', 1, {
      $case: 'historyBundleAnnounced',
      value: {
        accountId: 'acc-c',
        bundleId: 'bundle-1',
        deviceId: 2,
        parts: [{ mediaId: 'm-part', sizeBytes: 6000, sha256: Buffer.alloc(32, 6) }],
        totalBytes: 6000,
        announcedAt: at(3),
        expiresAt: at(63),
        byDeviceId: 1,
      },
    }),
    started('acc-c', 'm-part', 6000, 6),
    uploaded('acc-c', 'm-part', 6000, 6),
    media('acc-c', 'bundle-1', 2, {
      $case: 'historyBundlePartReceived',
      value: {
        accountId: 'acc-c',
        bundleId: 'bundle-1',
        mediaId: 'm-part',
        partsReceived: 1,
        partsTotal: 1,
        receivedAt: at(4),
      },
    }),
    media('acc-c', 'bundle-1', 3, {
      $case: 'historyBundleEnded',
      value: {
        accountId: 'acc-c',
        bundleId: 'bundle-1',
        deviceId: 2,
        reason: HistoryBundleEndReason.HISTORY_BUNDLE_END_REASON_RECEIVED,
        mediaIds: ['m-part'],
        endedAt: at(5),
      },
    }),
    media('acc-c', 'm-part', 3, {
      $case: 'mediaDiscarded',
      value: { accountId: 'acc-c', mediaId: 'm-part', reason: 'history bundle received', discardedAt: at(5) },
    }),
  ],
  stale: [
    started('acc-a', 'm-kept', 9999, 7),
    uploaded('acc-a', 'm-expired', 9999, 7),
    started('acc-b', 'm-abandoned', 9999, 7),
  ],
  expectDocuments: ({ media_index }) => {
    const removed = { status: 'removed', version: 3 };
    expect(media_index).toEqual([
      {
        _id: 'm-abandoned',
        accountId: 'acc-b',
        status: 'removed',
        sizeBytes: 4000,
        uploadExpiresAt: at(60).toISOString(),
        expiresAt: '',
        sha256: hex(4),
        version: 2,
      },
      {
        _id: 'm-expired',
        accountId: 'acc-a',
        ...removed,
        sizeBytes: 1000,
        uploadExpiresAt: at(60).toISOString(),
        expiresAt: at(600).toISOString(),
        sha256: hex(1),
      },
      {
        _id: 'm-kept',
        accountId: 'acc-a',
        status: 'uploaded',
        sizeBytes: 2000,
        uploadExpiresAt: at(60).toISOString(),
        expiresAt: at(600).toISOString(),
        sha256: hex(2),
        version: 2,
      },
      {
        _id: 'm-part',
        accountId: 'acc-c',
        ...removed,
        sizeBytes: 6000,
        uploadExpiresAt: at(60).toISOString(),
        expiresAt: at(600).toISOString(),
        sha256: hex(6),
      },
      {
        _id: 'm-purged',
        accountId: 'acc-c',
        ...removed,
        sizeBytes: 5000,
        uploadExpiresAt: at(60).toISOString(),
        expiresAt: at(600).toISOString(),
        sha256: hex(5),
      },
      {
        _id: 'm-rejected',
        accountId: 'acc-b',
        status: 'uploading',
        sizeBytes: 3000,
        uploadExpiresAt: at(60).toISOString(),
        expiresAt: '',
        sha256: hex(3),
        version: 1,
      },
    ]);
  },
});
