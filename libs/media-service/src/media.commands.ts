import { randomBytes } from 'node:crypto';
import type { TandemConfig } from '@tandem/config';
import {
  type CommandContext,
  CommandHandler,
  type CommandResult,
  type EventStore,
} from '@tandem/event-sourcing';
import {
  type MediaActor,
  type MediaCommand,
  type MediaDomainEvent,
  mediaDecider,
  type MediaState,
} from '@tandem/media-domain';
import type { BlobDigest } from '@tandem/blobs';
import { mediaEventCodec } from './media.codecs';

type Result = CommandResult<MediaDomainEvent, MediaState>;

/** 128 random bits, base64url: what makes a media id unguessable. */
export const newMediaId = (): string => randomBytes(16).toString('base64url');

/**
 * The media write side: one stream per media id in the media event store. It adds what the
 * decider needs from outside, the clock, fresh ids and the configured limits; the decider holds
 * the rules.
 */
export class MediaCommands {
  readonly media: CommandHandler<MediaCommand, MediaDomainEvent, MediaState>;

  constructor(
    store: EventStore,
    private readonly limits: TandemConfig['media'],
    onAppended: () => void,
  ) {
    this.media = new CommandHandler(store, mediaDecider, mediaEventCodec, { onAppended });
  }

  async state(mediaId: string): Promise<MediaState> {
    return (await this.media.load(mediaId)).state;
  }

  /** `usedBytes`: what the account's uploads and blobs take now. */
  async start(
    by: MediaActor,
    sizeBytes: number,
    sha256: Uint8Array,
    usedBytes: number,
    context: CommandContext,
  ): Promise<{ mediaId: string; result: Result }> {
    const mediaId = newMediaId();
    const result = await this.media.handle(
      mediaId,
      {
        type: 'StartUpload',
        mediaId,
        by: actor(by),
        sizeBytes,
        sha256,
        maxSizeBytes: this.limits.maxBlobBytes,
        usedBytes,
        quotaBytes: this.limits.quotaBytes,
        uploadTtlSeconds: this.limits.uploadTtlSeconds,
        now: new Date(),
      },
      context,
    );
    return { mediaId, result };
  }

  expireUpload(mediaId: string, now: Date, context: CommandContext): Promise<Result> {
    return this.media.handle(mediaId, { type: 'ExpireUpload', now }, context);
  }

  /** `referencedByBackup`: whether a kept backup references the media now. */
  expireMedia(
    mediaId: string,
    now: Date,
    referencedByBackup: boolean,
    context: CommandContext,
  ): Promise<Result> {
    return this.media.handle(mediaId, { type: 'ExpireMedia', referencedByBackup, now }, context);
  }

  /** What the blob belonged to ended. */
  discard(mediaId: string, reason: string, now: Date, context: CommandContext): Promise<Result> {
    return this.media.handle(mediaId, { type: 'DiscardMedia', reason, now }, context);
  }

  /** The uploading account was deleted at `now`. */
  purge(mediaId: string, now: Date, context: CommandContext): Promise<Result> {
    return this.media.handle(mediaId, { type: 'PurgeMedia', now }, context);
  }

  complete(mediaId: string, by: MediaActor, received: BlobDigest, context: CommandContext): Promise<Result> {
    return this.media.handle(
      mediaId,
      {
        type: 'CompleteUpload',
        by: actor(by),
        receivedBytes: received.sizeBytes,
        receivedSha256: received.sha256,
        retentionSeconds: this.limits.retentionSeconds,
        now: new Date(),
      },
      context,
    );
  }
}

const actor = ({ accountId, deviceId }: MediaActor): MediaActor => ({ accountId, deviceId });
