import type { ServerReadableStream } from '@grpc/grpc-js';
import type {
  UploadHeader,
  UploadRequest,
  UploadResponse,
} from '@tandem/contracts/tandem/media/v1/media_service';
import { invalidArgument } from '@tandem/decider';

/** An Upload's request stream taken apart: its header, then its chunks as the store consumes them. */
export interface UploadStream {
  /** The first message's header; rejects when the first message is not one. */
  readonly header: Promise<UploadHeader>;
  /**
   * The chunks after the header, in order, read from the call only as fast as they are consumed
   * (HTTP/2 flow control holds the client back meanwhile). Ends when the client ends the stream;
   * throws when the call fails or is cancelled, or when a later message is not a chunk.
   */
  readonly chunks: AsyncIterable<Uint8Array>;
}

const EMPTY = new Uint8Array(0);

/**
 * Reads an Upload call's messages from the call itself. (NestJS's Observable of the messages
 * reads them as fast as they come, without backpressure, and loses every message of a stream
 * that ended before its guard finished, as a small upload does: see `MediaGrpcController.upload`.)
 */
export function uploadStream(call: ServerReadableStream<UploadRequest, UploadResponse>): UploadStream {
  const messages = call[Symbol.asyncIterator]() as AsyncIterator<UploadRequest>;
  const cancelled = new Promise<never>((_, reject) =>
    call.once('cancelled', () => reject(new Error('the client cancelled the upload'))),
  );
  cancelled.catch(() => undefined);
  const next = () => Promise.race([messages.next(), cancelled]);

  const header = (async () => {
    const first = await next();
    if (first.done || first.value.part?.$case !== 'header')
      throw invalidArgument('header', 'the first message must be the header');
    return first.value.part.value;
  })();
  header.catch(() => undefined);

  async function* chunks(): AsyncIterable<Uint8Array> {
    await header;
    for (;;) {
      const message = await next();
      if (message.done) return;
      const { part } = message.value;
      if (part?.$case === 'header') throw invalidArgument('header', 'only the first message is a header');
      yield part?.value ?? EMPTY;
    }
  }

  return { header, chunks: chunks() };
}
