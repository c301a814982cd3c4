import { once } from 'node:events';
import type { Metadata, sendUnaryData, ServerReadableStream, ServerWritableStream } from '@grpc/grpc-js';
import { status } from '@grpc/grpc-js';
import { Controller, Inject, UseGuards } from '@nestjs/common';
import { GrpcMethod, GrpcStreamCall } from '@nestjs/microservices';
import {
  authenticatedDevice,
  DEVICE_AUTHENTICATOR,
  type DeviceAuthenticator,
  DeviceAuthGuard,
  Public,
} from '@tandem/auth';
import { BlocksProjection } from '@tandem/accounts-events';
import { BLOB_STORE, type BlobStore } from '@tandem/blobs';
import {
  type DownloadRequest,
  type DownloadResponse,
  type AnnounceHistoryBundleRequest,
  type AnnounceHistoryBundleResponse,
  type GetHistoryBundleRequest,
  type GetHistoryBundleResponse,
  type HistoryBundle,
  HistoryBundleState,
  type ReceiveHistoryBundlePartRequest,
  type ReceiveHistoryBundlePartResponse,
  type GetDownloadUrlRequest,
  type GetDownloadUrlResponse,
  type GetMediaRequest,
  type GetMediaResponse,
  type CompleteUploadRequest,
  type CompleteUploadResponse,
  type GetUploadUrlsRequest,
  type GetUploadUrlsResponse,
  type GetUploadStatusRequest,
  type GetUploadStatusResponse,
  type Media,
  type MediaServiceService,
  type StartUploadRequest,
  type StartUploadResponse,
  type UploadRequest,
  type UploadResponse,
} from '@tandem/contracts/tandem/media/v1/media_service';
import { type GrpcController, GrpcStatusError, requestContext, toGrpcError } from '@tandem/grpc';
import {
  byteRange,
  type EndedBundle,
  type OpenBundle,
  requireBundleFor,
  mediaLimits,
  requireDownloadable,
  requireOwnMedia,
  type Uploaded,
  type Uploading,
  validateMediaId,
} from '@tandem/media-domain';
import { from, map, Observable } from 'rxjs';
import type { Logger } from 'pino';
import { MediaCommands } from './media.commands';
import { storedBlobKey } from './stored-blob';
import { MediaUploads } from './media-uploads';
import { HistoryBundleCommands } from './history-bundles';
import { HistoryBundleEndReason } from '@tandem/contracts/tandem/media/v1/events';
import { MediaIndexProjection } from './media-index.projection';
import { failedPrecondition, permissionDenied } from '@tandem/decider';

/** How long a presigned download or upload URL works. */
const DOWNLOAD_URL_SECONDS = 15 * 60;
const UPLOAD_URL_SECONDS = 15 * 60;
import { uploadStream } from './upload-chunks';

/** Injection token of the process's logger, for the errors Upload answers itself. */
export const MEDIA_LOGGER = Symbol('MediaLogger');

const bundleStates: Readonly<Record<number, HistoryBundleState>> = {
  [HistoryBundleEndReason.HISTORY_BUNDLE_END_REASON_RECEIVED]:
    HistoryBundleState.HISTORY_BUNDLE_STATE_RECEIVED,
  [HistoryBundleEndReason.HISTORY_BUNDLE_END_REASON_EXPIRED]: HistoryBundleState.HISTORY_BUNDLE_STATE_EXPIRED,
  [HistoryBundleEndReason.HISTORY_BUNDLE_END_REASON_DEVICE_UNLINKED]:
    HistoryBundleState.HISTORY_BUNDLE_STATE_DEVICE_UNLINKED,
};

const toBundle = (bundle: OpenBundle | EndedBundle): HistoryBundle => ({
  bundleId: bundle.bundleId,
  deviceId: bundle.deviceId,
  parts: bundle.parts.map((part) => ({
    mediaId: part.mediaId,
    sizeBytes: part.sizeBytes,
    sha256: Buffer.from(part.sha256),
    uploadedAt: undefined,
    expiresAt: bundle.expiresAt,
  })),
  partsReceived: bundle.received.size,
  partsTotal: bundle.parts.length,
  state:
    bundle.status === 'open'
      ? HistoryBundleState.HISTORY_BUNDLE_STATE_OPEN
      : (bundleStates[bundle.reason] ?? HistoryBundleState.HISTORY_BUNDLE_STATE_UNSPECIFIED),
  expiresAt: bundle.expiresAt,
});

const toMedia = (media: Uploaded): Media => ({
  mediaId: media.mediaId,
  sizeBytes: media.sizeBytes,
  sha256: Buffer.from(media.sha256),
  uploadedAt: media.uploadedAt,
  expiresAt: media.expiresAt,
});

/**
 * MediaService: uploads through the media aggregate and the blob store (only the uploading
 * account's devices), downloads for any signed-in device that knows the media id.
 */
@Controller()
@UseGuards(DeviceAuthGuard)
export class MediaGrpcController implements Omit<GrpcController<typeof MediaServiceService>, 'upload'> {
  constructor(
    @Inject(MediaCommands) private readonly commands: MediaCommands,
    @Inject(MediaUploads) private readonly uploads: MediaUploads,
    @Inject(BLOB_STORE) private readonly blobs: BlobStore,
    @Inject(DEVICE_AUTHENTICATOR) private readonly authenticator: DeviceAuthenticator,
    @Inject(MEDIA_LOGGER) private readonly logger: Logger,
    @Inject(MediaIndexProjection) private readonly index: MediaIndexProjection,
    @Inject(BlocksProjection) private readonly blocks: BlocksProjection,
    @Inject(HistoryBundleCommands) private readonly bundles: HistoryBundleCommands,
  ) {}

  @GrpcMethod('MediaService', 'announceHistoryBundle')
  async announceHistoryBundle(
    request: AnnounceHistoryBundleRequest,
    metadata?: Metadata,
  ): Promise<AnnounceHistoryBundleResponse> {
    const device = authenticatedDevice(metadata);
    const mediaIds = request.mediaIds.map((mediaId) => validateMediaId(mediaId, 'media_ids'));
    const { state } = await this.bundles.announce(
      device,
      request.deviceId,
      mediaIds,
      requestContext(metadata),
    );
    return { bundle: toBundle(requireBundleFor(state, device)) };
  }

  @GrpcMethod('MediaService', 'getHistoryBundle')
  async getHistoryBundle(
    request: GetHistoryBundleRequest,
    metadata?: Metadata,
  ): Promise<GetHistoryBundleResponse> {
    const device = authenticatedDevice(metadata);
    const bundleId = validateMediaId(request.bundleId, 'bundle_id');
    return { bundle: toBundle(requireBundleFor(await this.bundles.state(bundleId), device)) };
  }

  @GrpcMethod('MediaService', 'receiveHistoryBundlePart')
  async receiveHistoryBundlePart(
    request: ReceiveHistoryBundlePartRequest,
    metadata?: Metadata,
  ): Promise<ReceiveHistoryBundlePartResponse> {
    const device = authenticatedDevice(metadata);
    const bundleId = validateMediaId(request.bundleId, 'bundle_id');
    const mediaId = validateMediaId(request.mediaId);
    const { state } = await this.bundles.receive(bundleId, device, mediaId, requestContext(metadata));
    return { bundle: toBundle(requireBundleFor(state, device)) };
  }

  /** A blob the device may download: uploaded, and its account and the uploader's block neither other. */
  private async downloadable(mediaId: string, accountId: string): Promise<Uploaded> {
    const media = requireDownloadable(await this.commands.state(mediaId));
    if (await this.blocks.eitherBlocks(accountId, media.accountId)) {
      throw permissionDenied("the uploader's account and this one block each other, or one blocks the other");
    }
    return media;
  }

  @GrpcMethod('MediaService', 'startUpload')
  async startUpload(request: StartUploadRequest, metadata?: Metadata): Promise<StartUploadResponse> {
    const device = authenticatedDevice(metadata);
    const { mediaId, result } = await this.commands.start(
      device,
      request.sizeBytes,
      request.sha256,
      await this.index.usedBytes(device.accountId),
      requestContext(metadata),
    );
    const upload = result.state as Uploading;
    return {
      mediaId,
      maxChunkBytes: mediaLimits.maxChunkBytes,
      uploadExpiresAt: upload.uploadExpiresAt,
    };
  }

  /**
   * Upload takes the call itself (`@GrpcStreamCall`) rather than NestJS's Observable of its
   * messages, which reads them without backpressure and loses every message of a stream that ended
   * before the guard finished (a small upload sent at once). So it authenticates the device itself
   * (it is `@Public` to the guard) and answers through the callback, every error as a status.
   */
  @Public()
  @GrpcStreamCall('MediaService', 'upload')
  upload(
    call: ServerReadableStream<UploadRequest, UploadResponse>,
    callback: sendUnaryData<UploadResponse>,
  ): Observable<null> {
    const answered = (async () => {
      const device = await this.authenticator.authenticate(call.metadata);
      const done = await this.uploads.upload(device, uploadStream(call), requestContext(call.metadata));
      return {
        mediaId: done.mediaId,
        committedOffset: done.committedOffset,
        completed: done.media !== undefined,
        media: done.media ? toMedia(done.media) : undefined,
      };
    })();
    return from(
      answered.then(
        (response) => callback(null, response),
        (error: unknown) => {
          const { code, details, metadata } = toGrpcError(error, this.logger);
          callback({ code, details, metadata, name: 'Error', message: details });
        },
      ),
    ).pipe(map(() => null));
  }

  @GrpcMethod('MediaService', 'getUploadStatus')
  async getUploadStatus(
    request: GetUploadStatusRequest,
    metadata?: Metadata,
  ): Promise<GetUploadStatusResponse> {
    const device = authenticatedDevice(metadata);
    const mediaId = validateMediaId(request.mediaId);
    const media = requireOwnMedia(await this.commands.state(mediaId), device);
    const completed = media.status === 'uploaded';
    return {
      mediaId,
      committedOffset: completed
        ? media.sizeBytes
        : await this.blobs.committedBytes(mediaId, media.sizeBytes),
      sizeBytes: media.sizeBytes,
      completed,
      uploadExpiresAt: completed ? undefined : media.uploadExpiresAt,
    };
  }

  @GrpcMethod('MediaService', 'getUploadUrls')
  async getUploadUrls(request: GetUploadUrlsRequest, metadata?: Metadata): Promise<GetUploadUrlsResponse> {
    const device = authenticatedDevice(metadata);
    const mediaId = validateMediaId(request.mediaId);
    const madeAt = Date.now();
    const { sizeBytes, partBytes, parts } = await this.uploads.uploadUrls(
      device,
      mediaId,
      UPLOAD_URL_SECONDS,
    );
    return {
      mediaId,
      sizeBytes,
      partBytes,
      parts: parts.map(({ partNumber, offset, length, url }) => ({ partNumber, offset, length, url })),
      urlsExpireAt: new Date(madeAt + UPLOAD_URL_SECONDS * 1000),
    };
  }

  @GrpcMethod('MediaService', 'completeUpload')
  async completeUpload(request: CompleteUploadRequest, metadata?: Metadata): Promise<CompleteUploadResponse> {
    const device = authenticatedDevice(metadata);
    const mediaId = validateMediaId(request.mediaId);
    return { media: toMedia(await this.uploads.completeStored(device, mediaId, requestContext(metadata))) };
  }

  @GrpcMethod('MediaService', 'getMedia')
  async getMedia(request: GetMediaRequest, metadata?: Metadata): Promise<GetMediaResponse> {
    const device = authenticatedDevice(metadata);
    const mediaId = validateMediaId(request.mediaId);
    return { media: toMedia(await this.downloadable(mediaId, device.accountId)) };
  }

  /**
   * Chunks are written to the call directly, each after the previous one drained, so a slow
   * client holds at most a chunk or two of the blob in memory; the Observable only ends the call.
   */
  @GrpcMethod('MediaService', 'getDownloadUrl')
  async getDownloadUrl(request: GetDownloadUrlRequest, metadata?: Metadata): Promise<GetDownloadUrlResponse> {
    const device = authenticatedDevice(metadata);
    const mediaId = validateMediaId(request.mediaId);
    const media = await this.downloadable(mediaId, device.accountId);
    const { presigner } = this.blobs;
    if (!presigner) {
      throw failedPrecondition(
        'this installation keeps blobs in its data folder, not an object store: use Download',
      );
    }
    const url = await presigner.downloadUrl(await storedBlobKey(this.blobs, media), DOWNLOAD_URL_SECONDS);
    return {
      media: toMedia(media),
      url,
      urlExpiresAt: new Date(Date.now() + DOWNLOAD_URL_SECONDS * 1000),
    };
  }

  @GrpcMethod('MediaService', 'download')
  download(
    request: DownloadRequest,
    metadata?: Metadata,
    call?: ServerWritableStream<DownloadRequest, DownloadResponse>,
  ): Observable<DownloadResponse> {
    const device = authenticatedDevice(metadata);
    return new Observable<DownloadResponse>((subscriber) => {
      let cancelled = false;
      const cancel = () => (cancelled = true);
      call?.once('cancelled', cancel);
      void (async () => {
        const mediaId = validateMediaId(request.mediaId);
        const media = await this.downloadable(mediaId, device.accountId);
        const range = byteRange(media.sizeBytes, request.offset, request.length);
        if (range === 'out-of-range') {
          throw new GrpcStatusError(status.OUT_OF_RANGE, `offset: the blob has ${media.sizeBytes} bytes`);
        }
        let offset = range.offset;
        const key = await storedBlobKey(this.blobs, media);
        for await (const chunk of this.blobs.read(key, range, mediaLimits.downloadChunkBytes)) {
          if (cancelled) break;
          const response: DownloadResponse = {
            media: offset === range.offset ? toMedia(media) : undefined,
            offset,
            chunk: Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength),
          };
          offset += chunk.length;
          if (!call) subscriber.next(response);
          else if (!call.write(response)) await Promise.race([once(call, 'drain'), once(call, 'cancelled')]);
        }
        subscriber.complete();
      })().then(
        () => call?.off('cancelled', cancel),
        (error: unknown) => subscriber.error(error),
      );
      return cancel;
    });
  }
}
