import { status } from '@grpc/grpc-js';
import { type BlobStore, contentKey, type PresignedUploadParts, UploadOffsetError } from '@tandem/blobs';
import { type DomainError, failedPrecondition, invalidArgument, isDomainError } from '@tandem/decider';
import type { CommandContext } from '@tandem/event-sourcing';
import { GrpcStatusError } from '@tandem/grpc';
import {
  type MediaActor,
  mediaLimits,
  requireOwnUpload,
  type Uploaded,
  validateMediaId,
} from '@tandem/media-domain';
import type { MediaCommands } from './media.commands';
import type { UploadStream } from './upload-chunks';

/** Where an Upload left its blob. */
export interface UploadOutcome {
  readonly mediaId: string;
  readonly committedOffset: number;
  /** The blob, once every byte arrived and the digest matched. */
  readonly media: Uploaded | undefined;
}

/**
 * The Upload RPC's work: checks the header against the upload and the bytes the store holds,
 * appends the chunks (one Upload of a media id at a time in this process), and once all bytes are
 * there has the store compute their SHA-256 and the decider accept or reject them. Rejected bytes
 * are discarded, so the upload starts again from 0; accepted ones are moved to their content key
 * (or discarded when the same ciphertext is stored there already).
 */
export class MediaUploads {
  private readonly running = new Set<string>();

  constructor(
    private readonly commands: MediaCommands,
    private readonly blobs: BlobStore,
  ) {}

  async upload(by: MediaActor, stream: UploadStream, context: CommandContext): Promise<UploadOutcome> {
    const header = await stream.header;
    const mediaId = validateMediaId(header.mediaId, 'header.media_id');
    if (!Number.isSafeInteger(header.offset) || header.offset < 0) {
      throw invalidArgument('header.offset', 'must be 0 or more');
    }
    const state = await this.commands.state(mediaId);
    if (
      state.status === 'uploaded' &&
      state.accountId === by.accountId &&
      header.offset === state.sizeBytes
    ) {
      return { mediaId, committedOffset: state.sizeBytes, media: state };
    }
    const upload = requireOwnUpload(state, by);
    if (this.running.has(mediaId)) {
      throw new GrpcStatusError(status.ABORTED, 'another Upload of this media is running; retry shortly');
    }
    this.running.add(mediaId);
    try {
      let refusal: DomainError | undefined;
      let received = header.offset;
      const checked = async function* (chunks: AsyncIterable<Uint8Array>) {
        try {
          for await (const chunk of chunks) {
            if (chunk.length > mediaLimits.maxChunkBytes) {
              refusal = invalidArgument('chunk', `must be at most ${mediaLimits.maxChunkBytes} bytes`);
              return;
            }
            if (received + chunk.length > upload.sizeBytes) {
              refusal = invalidArgument('chunk', `goes past the declared size of ${upload.sizeBytes} bytes`);
              return;
            }
            received += chunk.length;
            if (chunk.length > 0) yield chunk;
          }
        } catch (error) {
          if (isDomainError(error)) refusal = error;
          throw error;
        }
      };
      let committed: number;
      try {
        committed = await this.blobs.append(mediaId, upload.sizeBytes, header.offset, checked(stream.chunks));
      } catch (error) {
        if (!(error instanceof UploadOffsetError)) throw error;
        throw failedPrecondition(
          `the upload holds ${error.committedOffset} bytes; send from offset ${error.committedOffset}`,
          { committedOffset: error.committedOffset },
        );
      }
      if (refusal) throw refusal;
      if (committed < upload.sizeBytes) return { mediaId, committedOffset: committed, media: undefined };
      return await this.complete(mediaId, by, upload.sizeBytes, context);
    } finally {
      this.running.delete(mediaId);
    }
  }

  /**
   * Presigned URLs for the parts of a started upload the store does not hold yet, for a device of
   * the uploading account; FAILED_PRECONDITION where the store has no URLs (the data folder).
   */
  async uploadUrls(
    by: MediaActor,
    mediaId: string,
    expiresInSeconds: number,
  ): Promise<PresignedUploadParts & { readonly sizeBytes: number }> {
    const upload = requireOwnUpload(await this.commands.state(mediaId), by);
    const { presigner } = this.blobs;
    if (!presigner) {
      throw failedPrecondition(
        'this installation keeps blobs in its data folder, not an object store: send the bytes with Upload',
      );
    }
    const parts = await presigner.uploadPartUrls(mediaId, upload.sizeBytes, expiresInSeconds);
    return { ...parts, sizeBytes: upload.sizeBytes };
  }

  /**
   * Completes an upload whose bytes were PUT to presigned URLs: once the store holds them all,
   * checks their SHA-256 and records the outcome as Upload does. A completed upload of the
   * account answers again.
   */
  async completeStored(by: MediaActor, mediaId: string, context: CommandContext): Promise<Uploaded> {
    const state = await this.commands.state(mediaId);
    if (state.status === 'uploaded' && state.accountId === by.accountId) return state;
    const upload = requireOwnUpload(state, by);
    if (this.running.has(mediaId)) {
      throw new GrpcStatusError(
        status.ABORTED,
        'an Upload or CompleteUpload of this media is running; retry shortly',
      );
    }
    this.running.add(mediaId);
    try {
      const committed = await this.blobs.committedBytes(mediaId, upload.sizeBytes);
      if (committed !== upload.sizeBytes) {
        throw failedPrecondition(
          `the store holds ${committed} of the ${upload.sizeBytes} bytes in whole parts; ask GetUploadUrls for the missing parts`,
          { committedOffset: committed },
        );
      }
      const { media } = await this.complete(mediaId, by, upload.sizeBytes, context);
      return media as Uploaded;
    } finally {
      this.running.delete(mediaId);
    }
  }

  private async complete(
    mediaId: string,
    by: MediaActor,
    sizeBytes: number,
    context: CommandContext,
  ): Promise<UploadOutcome> {
    const digest = await this.blobs.complete(mediaId, sizeBytes);
    const { events, state } = await this.commands.complete(mediaId, by, digest, context);
    if (events.some((event) => event.$case === 'uploadRejected')) {
      await this.blobs.delete(mediaId);
      throw failedPrecondition(
        'the SHA-256 of the bytes received is not the one declared at StartUpload; they were discarded, send them again from offset 0',
        { committedOffset: 0 },
      );
    }
    if (state.status !== 'uploaded') throw new Error(`media ${mediaId} is ${state.status} after completing`);
    // Stored by content: the same ciphertext uploaded before is kept once, this copy discarded.
    await this.blobs.move(mediaId, contentKey(state.sha256));
    return { mediaId, committedOffset: sizeBytes, media: state };
  }
}
