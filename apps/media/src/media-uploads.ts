import { status } from '@grpc/grpc-js';
import { type BlobStore, contentKey, UploadOffsetError } from '@tandem/blobs';
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
