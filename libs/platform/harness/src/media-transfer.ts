import { once } from 'node:events';
import {
  type ChannelOptions,
  type Client,
  type ClientReadableStream,
  type ClientWritableStream,
  credentials,
  Metadata,
  type ServiceError,
} from '@grpc/grpc-js';
import type {
  DownloadRequest,
  DownloadResponse,
  Media,
  UploadRequest,
  UploadResponse,
} from '@tandem/contracts/tandem/media/v1/media_service';
import { serviceClientConstructor, services } from './grpc-client';

export type MediaStreamingClient = Client & {
  Upload(
    metadata: Metadata,
    callback: (error: ServiceError | null, response?: UploadResponse) => void,
  ): ClientWritableStream<UploadRequest>;
  Download(request: DownloadRequest, metadata: Metadata): ClientReadableStream<DownloadResponse>;
};

/** A MediaService client for its streaming RPCs. */
export function mediaStreamingClient(address: string, options: ChannelOptions = {}): MediaStreamingClient {
  const Client = serviceClientConstructor(services.media);
  return new Client(address, credentials.createInsecure(), options) as unknown as MediaStreamingClient;
}

const bearer = (token: string) => {
  const metadata = new Metadata();
  metadata.set('authorization', `Bearer ${token}`);
  return metadata;
};

export interface SendUploadOptions {
  /** Bytes per UploadRequest; 1 MiB by default. */
  readonly chunkBytes?: number;
  /**
   * Cancels the call once this many bytes were written and had `cancelDelayMs` to travel, as a
   * lost connection does; the promise then resolves with 'cancelled'.
   */
  readonly cancelAfterBytes?: number;
  readonly cancelDelayMs?: number;
}

/**
 * Sends `bytes` as the bytes of upload `mediaId` from `offset` on with one Upload call, waiting for
 * the call to drain between chunks (as a client on a slow link does).
 */
export async function sendUpload(
  client: MediaStreamingClient,
  token: string,
  mediaId: string,
  offset: number,
  bytes: Uint8Array,
  options: SendUploadOptions = {},
): Promise<UploadResponse | 'cancelled'> {
  const chunkBytes = options.chunkBytes ?? 1024 * 1024;
  let call!: ClientWritableStream<UploadRequest>;
  const answered = new Promise<UploadResponse>((resolve, reject) => {
    call = client.Upload(bearer(token), (error, response) =>
      error ? reject(error) : resolve(response as UploadResponse),
    );
  });
  answered.catch(() => undefined);
  let failed = false;
  call.on('error', () => (failed = true));
  call.write({ part: { $case: 'header', value: { mediaId, offset } } });
  for (let at = 0; at < bytes.length && !failed; at += chunkBytes) {
    if (options.cancelAfterBytes !== undefined && at >= options.cancelAfterBytes) {
      await new Promise((done) => setTimeout(done, options.cancelDelayMs ?? 500));
      call.cancel();
      await answered.catch(() => undefined);
      return 'cancelled';
    }
    const chunk = Buffer.from(bytes.buffer, bytes.byteOffset + at, Math.min(chunkBytes, bytes.length - at));
    if (!call.write({ part: { $case: 'chunk', value: chunk } })) {
      await Promise.race([once(call, 'drain'), answered.catch(() => undefined)]);
    }
  }
  call.end();
  return answered;
}

/** Downloads a blob, or a range of it, with one Download call. */
export function downloadMedia(
  client: MediaStreamingClient,
  token: string,
  request: DownloadRequest,
): Promise<{ bytes: Buffer; media: Media | undefined; offsets: number[] }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const offsets: number[] = [];
    let media: Media | undefined;
    const call = client.Download(request, bearer(token));
    call.on('data', (response: DownloadResponse) => {
      media ??= response.media ?? undefined;
      offsets.push(Number(response.offset));
      chunks.push(Buffer.from(response.chunk));
    });
    call.on('error', reject);
    call.on('end', () => resolve({ bytes: Buffer.concat(chunks), media, offsets }));
  });
}
