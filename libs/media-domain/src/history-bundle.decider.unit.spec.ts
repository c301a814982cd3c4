import { HistoryBundleEndReason } from '@tandem/contracts/tandem/media/v1/events';
import { fold } from '@tandem/decider';
import { deciderSpecification } from '@tandem/testing';
import { describe, expect, it } from 'vitest';
import {
  type AnnounceHistoryBundle,
  type BundleActor,
  historyBundleDecider,
  requireBundleFor,
} from './history-bundle.decider';
import type { MediaDomainEvent, MediaState } from './media.decider';

const spec = deciderSpecification(historyBundleDecider);
const now = new Date('2026-12-01T10:00:00.000Z');
const later = (seconds: number) => new Date(now.getTime() + seconds * 1000);
const phone: BundleActor = { accountId: 'account-1', deviceId: 1, primary: true };
const laptop: BundleActor = { accountId: 'account-1', deviceId: 2, primary: false };
const tablet: BundleActor = { accountId: 'account-1', deviceId: 3, primary: false };
const sha256 = Buffer.alloc(32, 7);

const uploaded = (mediaId: string, accountId = 'account-1'): MediaState => ({
  status: 'uploaded',
  mediaId,
  accountId,
  sizeBytes: 500,
  sha256,
  uploadedAt: now,
  expiresAt: later(3600),
});

const announce = (overrides: Partial<AnnounceHistoryBundle> = {}): AnnounceHistoryBundle => ({
  type: 'AnnounceHistoryBundle',
  bundleId: 'bundle-1',
  by: phone,
  deviceId: 2,
  deviceIsLinkedCompanion: true,
  parts: [
    { mediaId: 'part-1', media: uploaded('part-1') },
    { mediaId: 'part-2', media: uploaded('part-2') },
  ],
  ttlSeconds: 3600,
  now,
  ...overrides,
});

const announced: MediaDomainEvent = {
  $case: 'historyBundleAnnounced',
  value: {
    accountId: 'account-1',
    bundleId: 'bundle-1',
    deviceId: 2,
    parts: [
      { mediaId: 'part-1', sizeBytes: 500, sha256 },
      { mediaId: 'part-2', sizeBytes: 500, sha256 },
    ],
    totalBytes: 1000,
    announcedAt: now,
    expiresAt: later(3600),
    byDeviceId: 1,
  },
};

const received = (mediaId: string, partsReceived: number): MediaDomainEvent => ({
  $case: 'historyBundlePartReceived',
  value: {
    accountId: 'account-1',
    bundleId: 'bundle-1',
    mediaId,
    partsReceived,
    partsTotal: 2,
    receivedAt: now,
  },
});

const ended = (reason: HistoryBundleEndReason, at = now): MediaDomainEvent => ({
  $case: 'historyBundleEnded',
  value: {
    accountId: 'account-1',
    bundleId: 'bundle-1',
    deviceId: 2,
    reason,
    mediaIds: ['part-1', 'part-2'],
    endedAt: at,
  },
});

const {
  HISTORY_BUNDLE_END_REASON_RECEIVED,
  HISTORY_BUNDLE_END_REASON_EXPIRED,
  HISTORY_BUNDLE_END_REASON_DEVICE_UNLINKED,
} = HistoryBundleEndReason;

describe('the history bundle decider', () => {
  describe('when the primary announces a bundle', () => {
    it('records the parts with their sizes and digests and the expiry', () => {
      spec.given([]).when(announce()).then([announced]);
    });

    it('refuses a companion, a device that is not a linked companion, and parts that are not the account’s uploaded blobs', () => {
      spec
        .given([])
        .when(announce({ by: laptop }))
        .thenThrows('permission-denied');
      spec
        .given([])
        .when(announce({ deviceIsLinkedCompanion: false }))
        .thenThrows('failed-precondition');
      spec
        .given([])
        .when(announce({ parts: [{ mediaId: 'theirs', media: uploaded('theirs', 'account-2') }] }))
        .thenThrows('failed-precondition', /theirs/);
      spec
        .given([])
        .when(announce({ parts: [{ mediaId: 'pending', media: { status: 'none' } }] }))
        .thenThrows('failed-precondition', /pending/);
      spec
        .given([])
        .when(announce({ parts: [] }))
        .thenThrows('invalid-argument', /^media_ids/);
      spec
        .given([])
        .when(
          announce({
            parts: [
              { mediaId: 'part-1', media: uploaded('part-1') },
              { mediaId: 'part-1', media: uploaded('part-1') },
            ],
          }),
        )
        .thenThrows('invalid-argument', /once/);
    });
  });

  describe('when the companion receives parts', () => {
    const receive = (mediaId: string, by: BundleActor = laptop) => ({
      type: 'ReceiveHistoryBundlePart' as const,
      by,
      mediaId,
      now,
    });

    it('counts each part once and ends the bundle as received with the last', () => {
      spec
        .given([announced])
        .when(receive('part-1'))
        .then([received('part-1', 1)]);
      spec
        .given([announced, received('part-1', 1)])
        .when(receive('part-1'))
        .thenNothingHappens();
      spec
        .given([announced, received('part-1', 1)])
        .when(receive('part-2'))
        .then([received('part-2', 2), ended(HISTORY_BUNDLE_END_REASON_RECEIVED)]);
    });

    it('refuses another device, a media id not in the bundle, and a bundle that ended', () => {
      spec.given([announced]).when(receive('part-1', tablet)).thenThrows('not-found');
      spec.given([announced]).when(receive('other')).thenThrows('invalid-argument');
      spec
        .given([announced, ended(HISTORY_BUNDLE_END_REASON_EXPIRED)])
        .when(receive('part-1'))
        .thenThrows('failed-precondition');
    });
  });

  describe('when the hour passes or the companion is unlinked', () => {
    it('ends an open bundle as expired once its time has come, once', () => {
      spec
        .given([announced])
        .when({ type: 'ExpireHistoryBundle', now: later(3599) })
        .thenNothingHappens();
      spec
        .given([announced])
        .when({ type: 'ExpireHistoryBundle', now: later(3600) })
        .then([ended(HISTORY_BUNDLE_END_REASON_EXPIRED, later(3600))]);
      spec
        .given([announced, ended(HISTORY_BUNDLE_END_REASON_EXPIRED)])
        .when({ type: 'ExpireHistoryBundle', now: later(3600) })
        .thenNothingHappens();
    });

    it('ends it when its companion is unlinked, and not for another device', () => {
      spec
        .given([announced, received('part-1', 1)])
        .when({ type: 'CancelHistoryBundle', unlinkedDeviceId: 2, now })
        .then([ended(HISTORY_BUNDLE_END_REASON_DEVICE_UNLINKED)]);
      spec
        .given([announced])
        .when({ type: 'CancelHistoryBundle', unlinkedDeviceId: 3, now })
        .thenNothingHappens();
    });
  });

  it('shows the bundle to its companion and the primary only', () => {
    const state = fold(historyBundleDecider, [announced, received('part-1', 1)]);
    expect(requireBundleFor(state, laptop).received.size).toBe(1);
    expect(requireBundleFor(state, phone).parts).toHaveLength(2);
    expect(() => requireBundleFor(state, tablet)).toThrow(/no such history bundle/);
  });
});
