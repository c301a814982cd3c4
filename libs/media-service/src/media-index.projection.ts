import { assertNever } from '@tandem/decider';
import type { DocumentCollection, VersionedDocument } from '@tandem/documents';
import type { ReceivedEvent } from '@tandem/event-sourcing';
import type { MediaDomainEvent } from '@tandem/media-domain';
import { defineProjection, eventFeed } from '@tandem/runtime';
import { mediaEventCodec } from './media.codecs';

/** One upload or blob as the media index knows it, by media id. */
export interface MediaIndexRecord extends VersionedDocument {
  readonly accountId: string;
  readonly status: 'uploading' | 'uploaded' | 'removed';
  readonly sizeBytes: number;
  /** ISO 8601: when an upload not completed by then is removed. */
  readonly uploadExpiresAt: string;
  /** ISO 8601: when the blob is removed; empty until uploaded. */
  readonly expiresAt: string;
  /** The declared SHA-256 of the ciphertext, hex: the content its bytes are stored under. */
  readonly sha256: string;
}

/**
 * The media index, from tandem.media.events: every upload and blob by media id with its account,
 * size, state and expiry, for what needs them by account or by time (quotas, the expiry sweep,
 * purging a deleted account). Each document holds the media's version it reflects, so a
 * redelivered or replayed event changes nothing. It follows the event store within moments, so a
 * quota may let through what was started in those moments.
 */
export class MediaIndexProjection {
  constructor(private readonly media: DocumentCollection<MediaIndexRecord>) {}

  async apply({ event, metadata }: ReceivedEvent<MediaDomainEvent>): Promise<void> {
    if (!('mediaId' in event.value) || event.$case === 'historyBundlePartReceived') return;
    const known = await this.media.get(event.value.mediaId);
    const next = applied(known, event, metadata.aggregateVersion);
    if (next) await this.media.putIfNewer(next);
  }

  /** Bytes the account's uploads and blobs take. */
  async usedBytes(accountId: string): Promise<number> {
    const records = await this.media.find({ accountId });
    return records
      .filter((record) => record.status !== 'removed')
      .reduce((sum, record) => sum + record.sizeBytes, 0);
  }

  /** Uploads and blobs of the account that are not removed. */
  async ofAccount(accountId: string): Promise<MediaIndexRecord[]> {
    return (await this.media.find({ accountId })).filter((record) => record.status !== 'removed');
  }

  /** Media ids of this content (a hex SHA-256), removed ones included. */
  async withContent(sha256: string): Promise<MediaIndexRecord[]> {
    return this.media.find({ sha256 });
  }

  async ensureIndexes(): Promise<void> {
    await this.media.ensureIndex(['sha256']);
  }

  /** Uploads past their upload expiry and blobs past their expiry at `now`. */
  async due(now: Date): Promise<{ uploads: MediaIndexRecord[]; blobs: MediaIndexRecord[] }> {
    const [uploading, uploaded] = await Promise.all([
      this.media.find({ status: 'uploading' }),
      this.media.find({ status: 'uploaded' }),
    ]);
    const past = (time: string) => time !== '' && new Date(time).getTime() <= now.getTime();
    return {
      uploads: uploading.filter((record) => past(record.uploadExpiresAt)),
      blobs: uploaded.filter((record) => past(record.expiresAt)),
    };
  }
}

function applied(
  known: MediaIndexRecord | null,
  event: MediaDomainEvent,
  version: number,
): MediaIndexRecord | undefined {
  switch (event.$case) {
    case 'uploadStarted': {
      const { value } = event;
      return {
        _id: value.mediaId,
        accountId: value.accountId,
        status: 'uploading',
        sizeBytes: value.sizeBytes,
        uploadExpiresAt: (value.uploadExpiresAt ?? new Date(0)).toISOString(),
        expiresAt: '',
        sha256: Buffer.from(value.sha256).toString('hex'),
        version,
      };
    }
    case 'mediaUploaded': {
      const { value } = event;
      return {
        _id: value.mediaId,
        accountId: value.accountId,
        status: 'uploaded',
        sizeBytes: value.sizeBytes,
        uploadExpiresAt: known?.uploadExpiresAt ?? '',
        expiresAt: (value.expiresAt ?? new Date(0)).toISOString(),
        sha256: Buffer.from(value.sha256).toString('hex'),
        version,
      };
    }
    case 'uploadRejected':
      return undefined;
    case 'uploadExpired':
    case 'mediaExpired':
    case 'mediaPurged':
    case 'mediaDiscarded':
      return {
        _id: event.value.mediaId,
        accountId: event.value.accountId,
        status: 'removed',
        sizeBytes: known?.sizeBytes ?? 0,
        uploadExpiresAt: known?.uploadExpiresAt ?? '',
        expiresAt: known?.expiresAt ?? '',
        sha256: known?.sha256 ?? '',
        version,
      };
    case 'historyBundleAnnounced':
    case 'historyBundlePartReceived':
    case 'historyBundleEnded':
      return undefined;
    default:
      return assertNever(event);
  }
}

/** Every blob's owner, size and references, kept by the group `media.media-index`. */
export const mediaIndex = defineProjection({
  name: 'media-index',
  collections: ['media_index'],
  feeds: [eventFeed<MediaDomainEvent, MediaIndexProjection>('media', 'media-index', mediaEventCodec)],
  create: (store) => new MediaIndexProjection(store.collection('media_index')),
});
