/**
 * One blob: one aggregate per media id (stream id = media id; events keyed by the uploading
 * account). Invariants:
 * - a media id is started once, by one device, for one account, with a declared size (1 byte to
 *   the configured maximum) and a 32-byte SHA-256, and only while the account's uploads and blobs
 *   with it stay within its quota; only devices of that account may send its bytes, ask how far the
 *   upload is and complete it;
 * - an upload completes only with exactly the declared number of bytes; when their SHA-256 is not
 *   the declared one they are rejected (and discarded by the caller) and the upload starts again;
 *   completing again once complete records nothing;
 * - only a completed blob is downloadable, until its expiry (uploaded at + retention);
 * - an upload not completed by its expiry (started at + upload TTL) is removed, once;
 * - a blob past its expiry is removed, once, unless a kept backup references it (then it is
 *   removed at the first sweep after the last such backup is released); an account's deletion
 *   removes its blob or upload,
 *   once; a removed media id is never downloadable or started again.
 */
import {
  alreadyExists,
  assertNever,
  type Decider,
  DomainError,
  failedPrecondition,
  notFound,
  permissionDenied,
} from '@tandem/decider';
import type { MediaEvent } from '@tandem/contracts/tandem/media/v1/events';
import { sameDigest, validateSha256, validateSize } from './media';

export type MediaDomainEvent = NonNullable<MediaEvent['event']>;

/** The device a request comes from, as its token says. */
export interface MediaActor {
  readonly accountId: string;
  readonly deviceId: number;
}

interface Declared {
  readonly mediaId: string;
  readonly accountId: string;
  readonly sizeBytes: number;
  readonly sha256: Uint8Array;
}

export interface Uploading extends Declared {
  readonly status: 'uploading';
  readonly startedByDeviceId: number;
  readonly startedAt: Date;
  readonly uploadExpiresAt: Date;
}

export interface Uploaded extends Declared {
  readonly status: 'uploaded';
  readonly uploadedAt: Date;
  readonly expiresAt: Date;
}

export interface Removed {
  readonly status: 'removed';
  readonly mediaId: string;
  readonly accountId: string;
  readonly reason: 'upload-expired' | 'expired' | 'purged' | 'discarded';
  /** The declared SHA-256: the content its bytes were, or would have been, stored under. */
  readonly sha256: Uint8Array;
}

export type MediaState = { readonly status: 'none' } | Uploading | Uploaded | Removed;

export interface StartUpload {
  readonly type: 'StartUpload';
  /** A fresh random id the caller made. */
  readonly mediaId: string;
  readonly by: MediaActor;
  readonly sizeBytes: number;
  readonly sha256: Uint8Array;
  /** Largest blob the service keeps (configuration). */
  readonly maxSizeBytes: number;
  /** Bytes the account's uploads and blobs take now (a lookup). */
  readonly usedBytes: number;
  /** Bytes the account's uploads and blobs may take together (configuration). */
  readonly quotaBytes: number;
  /** How long an upload may take to complete (configuration). */
  readonly uploadTtlSeconds: number;
  readonly now: Date;
}

export interface CompleteUpload {
  readonly type: 'CompleteUpload';
  readonly by: MediaActor;
  /** Bytes the store holds for the upload. */
  readonly receivedBytes: number;
  /** Their SHA-256, as the store computed it. */
  readonly receivedSha256: Uint8Array;
  /** How long a blob is kept after its upload (configuration). */
  readonly retentionSeconds: number;
  readonly now: Date;
}

/** The upload-expiry sweep found the upload; it is removed when its time has come. */
export interface ExpireUpload {
  readonly type: 'ExpireUpload';
  readonly now: Date;
}

/**
 * The retention sweep found the blob; it is removed when its time has come and no kept backup
 * references it.
 */
export interface ExpireMedia {
  readonly type: 'ExpireMedia';
  /** Whether a kept backup references the media (a lookup). */
  readonly referencedByBackup: boolean;
  readonly now: Date;
}

/** The uploading account was deleted. */
export interface PurgeMedia {
  readonly type: 'PurgeMedia';
  readonly now: Date;
}

/** What the blob belonged to ended (a history bundle); it is removed before its retention. */
export interface DiscardMedia {
  readonly type: 'DiscardMedia';
  readonly reason: string;
  readonly now: Date;
}

export type MediaCommand =
  StartUpload | CompleteUpload | ExpireUpload | ExpireMedia | PurgeMedia | DiscardMedia;

const addSeconds = (time: Date, seconds: number) => new Date(time.getTime() + seconds * 1000);

/**
 * The upload a device of `by`'s account may send bytes to or ask about; refused when there is
 * none, when another account started it, or when it is complete already.
 */
export function requireOwnUpload(state: MediaState, by: MediaActor): Uploading {
  if (state.status === 'none' || state.status === 'removed') throw notFound('no such upload');
  if (state.accountId !== by.accountId) {
    throw permissionDenied('only devices of the account that started an upload may send or finish it');
  }
  if (state.status === 'uploaded') throw failedPrecondition('the upload is complete already');
  return state;
}

/**
 * Where an upload or blob stands for a device of `by`'s account: uploading or uploaded; refused
 * when there is none or another account started it.
 */
export function requireOwnMedia(state: MediaState, by: MediaActor): Uploading | Uploaded {
  if (state.status === 'none' || state.status === 'removed') throw notFound('no such upload');
  if (state.accountId !== by.accountId) {
    throw permissionDenied('only devices of the account that started an upload may ask about it');
  }
  return state;
}

/**
 * Blobs are stored by the SHA-256 of their bytes (content addressing): every media id of the same
 * ciphertext names one stored copy. That copy is removed only when none of the media ids of its
 * SHA-256 is still uploading or uploaded (an upload would find its bytes there when it completes).
 */
export function contentReleased(sameContent: readonly MediaState[]): boolean {
  return sameContent.every((media) => media.status === 'none' || media.status === 'removed');
}

/** A blob that can be downloaded: uploaded and not removed. */
export function requireDownloadable(state: MediaState): Uploaded {
  if (state.status !== 'uploaded') throw notFound('no such media (unknown, not uploaded yet, or removed)');
  return state;
}

function startUpload(command: StartUpload, state: MediaState): MediaDomainEvent[] {
  if (state.status !== 'none') throw alreadyExists(`media ${command.mediaId} exists already`);
  const sizeBytes = validateSize(command.sizeBytes, command.maxSizeBytes);
  const sha256 = validateSha256(command.sha256);
  if (command.usedBytes + sizeBytes > command.quotaBytes) {
    throw new DomainError(
      'resource-exhausted',
      `the account's media take ${command.usedBytes} of its ${command.quotaBytes} bytes; ${sizeBytes} more do not fit`,
      undefined,
      { usedBytes: command.usedBytes, quotaBytes: command.quotaBytes },
    );
  }
  return [
    {
      $case: 'uploadStarted',
      value: {
        accountId: command.by.accountId,
        mediaId: command.mediaId,
        deviceId: command.by.deviceId,
        sizeBytes,
        sha256: Buffer.from(sha256),
        startedAt: command.now,
        uploadExpiresAt: addSeconds(command.now, command.uploadTtlSeconds),
      },
    },
  ];
}

function completeUpload(command: CompleteUpload, state: MediaState): MediaDomainEvent[] {
  if (state.status === 'uploaded' && state.accountId === command.by.accountId) return [];
  const upload = requireOwnUpload(state, command.by);
  if (command.receivedBytes !== upload.sizeBytes) {
    throw failedPrecondition(
      `the upload holds ${command.receivedBytes} of its ${upload.sizeBytes} bytes; send the rest first`,
      { committedOffset: command.receivedBytes },
    );
  }
  const base = { accountId: upload.accountId, mediaId: upload.mediaId, deviceId: command.by.deviceId };
  if (!sameDigest(command.receivedSha256, upload.sha256)) {
    return [
      {
        $case: 'uploadRejected',
        value: { ...base, receivedSha256: Buffer.from(command.receivedSha256), rejectedAt: command.now },
      },
    ];
  }
  return [
    {
      $case: 'mediaUploaded',
      value: {
        ...base,
        sizeBytes: upload.sizeBytes,
        sha256: Buffer.from(upload.sha256),
        uploadedAt: command.now,
        expiresAt: addSeconds(command.now, command.retentionSeconds),
      },
    },
  ];
}

function decide(command: MediaCommand, state: MediaState): MediaDomainEvent[] {
  switch (command.type) {
    case 'StartUpload':
      return startUpload(command, state);
    case 'CompleteUpload':
      return completeUpload(command, state);
    case 'ExpireUpload':
      if (state.status !== 'uploading' || command.now < state.uploadExpiresAt) return [];
      return [
        {
          $case: 'uploadExpired',
          value: { accountId: state.accountId, mediaId: state.mediaId, expiredAt: command.now },
        },
      ];
    case 'ExpireMedia':
      if (state.status !== 'uploaded' || command.now < state.expiresAt) return [];
      if (command.referencedByBackup) return [];
      return [
        {
          $case: 'mediaExpired',
          value: {
            accountId: state.accountId,
            mediaId: state.mediaId,
            sizeBytes: state.sizeBytes,
            expiredAt: command.now,
          },
        },
      ];
    case 'PurgeMedia':
      if (state.status !== 'uploading' && state.status !== 'uploaded') return [];
      return [
        {
          $case: 'mediaPurged',
          value: { accountId: state.accountId, mediaId: state.mediaId, purgedAt: command.now },
        },
      ];
    case 'DiscardMedia':
      if (state.status !== 'uploading' && state.status !== 'uploaded') return [];
      return [
        {
          $case: 'mediaDiscarded',
          value: {
            accountId: state.accountId,
            mediaId: state.mediaId,
            reason: command.reason,
            discardedAt: command.now,
          },
        },
      ];
    default:
      return assertNever(command);
  }
}

const removed = (state: MediaState, reason: Removed['reason']): MediaState =>
  state.status === 'uploading' || state.status === 'uploaded'
    ? { status: 'removed', mediaId: state.mediaId, accountId: state.accountId, reason, sha256: state.sha256 }
    : state;

function evolve(state: MediaState, event: MediaDomainEvent): MediaState {
  switch (event.$case) {
    case 'uploadStarted': {
      const { value } = event;
      return {
        status: 'uploading',
        mediaId: value.mediaId,
        accountId: value.accountId,
        sizeBytes: value.sizeBytes,
        sha256: value.sha256,
        startedByDeviceId: value.deviceId,
        startedAt: value.startedAt ?? new Date(0),
        uploadExpiresAt: value.uploadExpiresAt ?? new Date(0),
      };
    }
    case 'mediaUploaded': {
      if (state.status !== 'uploading') return state;
      return {
        status: 'uploaded',
        mediaId: state.mediaId,
        accountId: state.accountId,
        sizeBytes: state.sizeBytes,
        sha256: state.sha256,
        uploadedAt: event.value.uploadedAt ?? new Date(0),
        expiresAt: event.value.expiresAt ?? new Date(0),
      };
    }
    case 'uploadRejected':
      return state;
    case 'uploadExpired':
      return removed(state, 'upload-expired');
    case 'mediaExpired':
      return removed(state, 'expired');
    case 'mediaPurged':
      return removed(state, 'purged');
    case 'mediaDiscarded':
      return removed(state, 'discarded');
    case 'historyBundleAnnounced':
    case 'historyBundlePartReceived':
    case 'historyBundleEnded':
      return state;
    default:
      return assertNever(event);
  }
}

export const mediaDecider: Decider<MediaCommand, MediaDomainEvent, MediaState> = {
  decide,
  evolve,
  initialState: () => ({ status: 'none' }),
};
