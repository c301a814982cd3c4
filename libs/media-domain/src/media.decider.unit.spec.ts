import { createHash } from 'node:crypto';
import { isDomainError } from '@tandem/decider';
import { deciderSpecification } from '@tandem/testing';
import { describe, expect, it } from 'vitest';
import { byteRange, validateMediaId } from './media';
import {
  type CompleteUpload,
  type MediaActor,
  type MediaDomainEvent,
  mediaDecider,
  requireDownloadable,
  requireOwnMedia,
  requireOwnUpload,
  contentReleased,
  type StartUpload,
} from './media.decider';
import { fold } from '@tandem/decider';

const spec = deciderSpecification(mediaDecider);

const mediaId = 'AAAAAAAAAAAAAAAAAAAAAA';
const phone: MediaActor = { accountId: 'account-1', deviceId: 1 };
const laptop: MediaActor = { accountId: 'account-1', deviceId: 2 };
const stranger: MediaActor = { accountId: 'account-2', deviceId: 1 };
const now = new Date('2026-12-01T10:00:00.000Z');
const later = (seconds: number) => new Date(now.getTime() + seconds * 1000);
const sha256 = createHash('sha256').update('ciphertext').digest();
const otherSha256 = createHash('sha256').update('something else').digest();
const DAY = 24 * 3600;
const MONTH = 30 * DAY;

const start = (overrides: Partial<StartUpload> = {}): StartUpload => ({
  type: 'StartUpload',
  mediaId,
  by: phone,
  sizeBytes: 1000,
  sha256,
  maxSizeBytes: 100 * 1024 * 1024,
  usedBytes: 0,
  quotaBytes: 1024 * 1024 * 1024,
  uploadTtlSeconds: DAY,
  now,
  ...overrides,
});

const complete = (overrides: Partial<CompleteUpload> = {}): CompleteUpload => ({
  type: 'CompleteUpload',
  by: laptop,
  receivedBytes: 1000,
  receivedSha256: sha256,
  retentionSeconds: MONTH,
  now: later(60),
  ...overrides,
});

const started: MediaDomainEvent = {
  $case: 'uploadStarted',
  value: {
    accountId: 'account-1',
    mediaId,
    deviceId: 1,
    sizeBytes: 1000,
    sha256,
    startedAt: now,
    uploadExpiresAt: later(DAY),
  },
};

const uploaded: MediaDomainEvent = {
  $case: 'mediaUploaded',
  value: {
    accountId: 'account-1',
    mediaId,
    deviceId: 2,
    sizeBytes: 1000,
    sha256,
    uploadedAt: later(60),
    expiresAt: later(60 + MONTH),
  },
};

function refusal(action: () => unknown): { kind: string; message: string } {
  try {
    action();
  } catch (error) {
    if (isDomainError(error)) return { kind: error.kind, message: error.message };
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('the media decider', () => {
  describe('when a device starts an upload', () => {
    it('records UploadStarted with the declared size and digest and the upload expiry', () => {
      spec.given([]).when(start()).then([started]);
    });

    it('refuses a size of 0, one above the maximum and a digest that is not 32 bytes, naming the field', () => {
      spec
        .given([])
        .when(start({ sizeBytes: 0 }))
        .thenThrows('invalid-argument', /^size_bytes/);
      spec
        .given([])
        .when(start({ sizeBytes: 100 * 1024 * 1024 + 1 }))
        .thenThrows('invalid-argument', /size_bytes: must be at most 104857600 bytes/);
      spec
        .given([])
        .when(start({ sha256: Buffer.alloc(31) }))
        .thenThrows('invalid-argument', /^sha256/);
    });

    it('refuses an upload that does not fit in the account quota, saying how much is used', () => {
      spec
        .given([])
        .when(start({ usedBytes: 1024 * 1024 * 1024 - 999, sizeBytes: 1000 }))
        .thenThrows('resource-exhausted', /take 1073740825 of its 1073741824 bytes; 1000 more do not fit/);
      spec
        .given([])
        .when(start({ usedBytes: 1024 * 1024 * 1024 - 1000, sizeBytes: 1000 }))
        .then([started]);
    });

    it('refuses a media id that exists', () => {
      spec.given([started]).when(start()).thenThrows('already-exists');
    });
  });

  describe('when the bytes are complete', () => {
    it('records MediaUploaded with the expiry after the retention, whichever device of the account sent the last byte', () => {
      spec.given([started]).when(complete()).then([uploaded]);
    });

    it('refuses a device of another account', () => {
      spec
        .given([started])
        .when(complete({ by: stranger }))
        .thenThrows('permission-denied');
    });

    it('refuses while bytes are missing, saying how many it holds', () => {
      spec
        .given([started])
        .when(complete({ receivedBytes: 999 }))
        .thenThrows('failed-precondition', /holds 999 of its 1000 bytes/);
    });

    it('rejects bytes whose SHA-256 is not the declared one, and the upload stays open', () => {
      const rejected: MediaDomainEvent = {
        $case: 'uploadRejected',
        value: {
          accountId: 'account-1',
          mediaId,
          deviceId: 2,
          receivedSha256: otherSha256,
          rejectedAt: later(60),
        },
      };
      spec
        .given([started])
        .when(complete({ receivedSha256: otherSha256 }))
        .then([rejected]);
      expect(fold(mediaDecider, [started, rejected]).status).toBe('uploading');
      spec.given([started, rejected]).when(complete()).then([uploaded]);
    });

    it('records nothing when completed again', () => {
      spec.given([started, uploaded]).when(complete()).thenNothingHappens();
    });

    it('refuses an unknown media id', () => {
      spec.given([]).when(complete()).thenThrows('not-found');
    });
  });

  describe('when uploads and blobs expire', () => {
    it('removes an upload not completed by its expiry, once', () => {
      const expired: MediaDomainEvent = {
        $case: 'uploadExpired',
        value: { accountId: 'account-1', mediaId, expiredAt: later(DAY) },
      };
      spec
        .given([started])
        .when({ type: 'ExpireUpload', now: later(DAY - 1) })
        .thenNothingHappens();
      spec
        .given([started])
        .when({ type: 'ExpireUpload', now: later(DAY) })
        .then([expired]);
      spec
        .given([started, expired])
        .when({ type: 'ExpireUpload', now: later(DAY) })
        .thenNothingHappens();
      spec.given([started, expired]).when(complete()).thenThrows('not-found');
    });

    it('never removes a completed blob as an upload', () => {
      spec
        .given([started, uploaded])
        .when({ type: 'ExpireUpload', now: later(DAY) })
        .thenNothingHappens();
    });

    it('removes a blob after its retention, once, and it is no longer downloadable', () => {
      const expired: MediaDomainEvent = {
        $case: 'mediaExpired',
        value: { accountId: 'account-1', mediaId, sizeBytes: 1000, expiredAt: later(60 + MONTH) },
      };
      spec
        .given([started, uploaded])
        .when({ type: 'ExpireMedia', referencedByBackup: false, now: later(MONTH) })
        .thenNothingHappens();
      spec
        .given([started, uploaded])
        .when({ type: 'ExpireMedia', referencedByBackup: false, now: later(60 + MONTH) })
        .then([expired]);
      spec
        .given([started, uploaded, expired])
        .when({ type: 'ExpireMedia', referencedByBackup: false, now: later(60 + MONTH) })
        .thenNothingHappens();
      expect(refusal(() => requireDownloadable(fold(mediaDecider, [started, uploaded, expired]))).kind).toBe(
        'not-found',
      );
    });

    it('keeps a blob past its retention while a backup references it, and removes it once released', () => {
      const expired: MediaDomainEvent = {
        $case: 'mediaExpired',
        value: { accountId: 'account-1', mediaId, sizeBytes: 1000, expiredAt: later(2 * MONTH) },
      };
      spec
        .given([started, uploaded])
        .when({ type: 'ExpireMedia', referencedByBackup: true, now: later(2 * MONTH) })
        .thenNothingHappens();
      spec
        .given([started, uploaded])
        .when({ type: 'ExpireMedia', referencedByBackup: false, now: later(2 * MONTH) })
        .then([expired]);
    });

    it('does not remove a referenced blob before its retention ends', () => {
      spec
        .given([started, uploaded])
        .when({ type: 'ExpireMedia', referencedByBackup: true, now: later(MONTH) })
        .thenNothingHappens();
    });
  });

  describe('when the account is deleted', () => {
    it('purges an upload or a blob once', () => {
      const purged: MediaDomainEvent = {
        $case: 'mediaPurged',
        value: { accountId: 'account-1', mediaId, purgedAt: later(5) },
      };
      spec
        .given([started])
        .when({ type: 'PurgeMedia', now: later(5) })
        .then([purged]);
      spec
        .given([started, uploaded])
        .when({ type: 'PurgeMedia', now: later(5) })
        .then([purged]);
      spec
        .given([started, purged])
        .when({ type: 'PurgeMedia', now: later(5) })
        .thenNothingHappens();
      spec
        .given([])
        .when({ type: 'PurgeMedia', now: later(5) })
        .thenNothingHappens();
    });
  });

  describe('who may do what', () => {
    it('lets devices of the uploading account send bytes and ask, and no one else', () => {
      const uploading = fold(mediaDecider, [started]);
      expect(requireOwnUpload(uploading, laptop).mediaId).toBe(mediaId);
      expect(refusal(() => requireOwnUpload(uploading, stranger)).kind).toBe('permission-denied');
      expect(refusal(() => requireOwnMedia(uploading, stranger)).kind).toBe('permission-denied');
      expect(refusal(() => requireOwnUpload(fold(mediaDecider, []), phone)).kind).toBe('not-found');
    });

    it('refuses bytes for a completed upload, and lets any device download it only once complete', () => {
      const done = fold(mediaDecider, [started, uploaded]);
      expect(refusal(() => requireOwnUpload(done, phone)).kind).toBe('failed-precondition');
      expect(requireOwnMedia(done, phone).status).toBe('uploaded');
      expect(requireDownloadable(done).sizeBytes).toBe(1000);
      expect(refusal(() => requireDownloadable(fold(mediaDecider, [started]))).kind).toBe('not-found');
    });
  });

  describe('media ids and ranges', () => {
    it('accepts 22 characters of base64url only', () => {
      expect(validateMediaId(mediaId)).toBe(mediaId);
      for (const bad of ['', 'short', '../../../../etc/passwd', `${mediaId}A`, 'AAAAAAAAAAAAAAAAAAAAA/']) {
        expect(refusal(() => validateMediaId(bad)).kind).toBe('invalid-argument');
      }
    });

    it('clips a range to the end, takes 0 as "to the end", and puts an offset past the end out of range', () => {
      expect(byteRange(1000, 0, 0)).toEqual({ offset: 0, length: 1000 });
      expect(byteRange(1000, 400, 100)).toEqual({ offset: 400, length: 100 });
      expect(byteRange(1000, 900, 500)).toEqual({ offset: 900, length: 100 });
      expect(byteRange(1000, 1000, 0)).toBe('out-of-range');
      expect(refusal(() => byteRange(1000, -1, 0)).kind).toBe('invalid-argument');
    });
  });
});

describe('content addressing', () => {
  const uploadedEvent: MediaDomainEvent = {
    $case: 'mediaUploaded',
    value: {
      accountId: 'account-1',
      mediaId,
      deviceId: 1,
      sizeBytes: 1000,
      sha256,
      uploadedAt: later(60),
      expiresAt: later(60 + MONTH),
    },
  };
  const startedEvent: MediaDomainEvent = {
    $case: 'uploadStarted',
    value: {
      accountId: 'account-1',
      mediaId,
      deviceId: 1,
      sizeBytes: 1000,
      sha256,
      startedAt: now,
      uploadExpiresAt: later(DAY),
    },
  };
  const expiredEvent: MediaDomainEvent = {
    $case: 'mediaExpired',
    value: { accountId: 'account-1', mediaId, sizeBytes: 1000, expiredAt: later(MONTH + 60) },
  };

  it('given another media id of the same bytes still uploaded, then the stored copy stays', () => {
    expect(contentReleased([fold(mediaDecider, [startedEvent, uploadedEvent])])).toBe(false);
  });

  it('given another media id of the same bytes still uploading, then the stored copy stays', () => {
    expect(contentReleased([fold(mediaDecider, [startedEvent])])).toBe(false);
  });

  it('given every other media id of the same bytes removed, or none, then the stored copy goes', () => {
    expect(contentReleased([fold(mediaDecider, [startedEvent, uploadedEvent, expiredEvent])])).toBe(true);
    expect(contentReleased([])).toBe(true);
  });

  it('when a media is removed, then its state still names the SHA-256 its bytes were stored under', () => {
    const state = fold(mediaDecider, [startedEvent, uploadedEvent, expiredEvent]);
    expect(state.status === 'removed' && Buffer.from(state.sha256).equals(sha256)).toBe(true);
  });
});
