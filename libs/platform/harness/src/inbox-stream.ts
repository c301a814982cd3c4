import { resolve } from 'node:path';
import {
  type Client,
  type ClientReadableStream,
  credentials,
  loadPackageDefinition,
  Metadata,
  type ServiceClientConstructor,
  status,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import type {
  StreamInboxRequest,
  StreamInboxResponse,
} from '@tandem/contracts/grpc/tandem/fanout/v1/fanout_service';
import type { DeliveryReceipt, InboxEntry } from '@tandem/contracts/grpc/tandem/fanout/v1/inbox';
import { GRPC_LOADER_OPTIONS } from '@tandem/grpc';
import { CollectedStream } from './collected-stream';
import { eventually, PROTO_DIR, services } from './grpc-client';

export type FanoutStreamingClient = Client & {
  StreamInbox(request: StreamInboxRequest, metadata: Metadata): ClientReadableStream<StreamInboxResponse>;
};

/** A FanoutService client of its own, for reading server streams item by item. */
export function fanoutStreamingClient(address: string): FanoutStreamingClient {
  const definition = loadSync(resolve(PROTO_DIR, services.fanout.protoFile), {
    ...GRPC_LOADER_OPTIONS,
    includeDirs: [PROTO_DIR],
  });
  const loaded = loadPackageDefinition(definition) as unknown as {
    tandem: { fanout: { v1: { FanoutService: ServiceClientConstructor } } };
  };
  const client = new loaded.tandem.fanout.v1.FanoutService(address, credentials.createInsecure());
  return client as unknown as FanoutStreamingClient;
}

export const entriesOf = (items: readonly StreamInboxResponse[]): InboxEntry[] =>
  items.flatMap((item) => (item.entry ? [item.entry] : []));

export const messagesOf = (items: readonly StreamInboxResponse[]): InboxEntry[] =>
  entriesOf(items).filter((entry) => entry.message);

export const receiptsOf = (items: readonly StreamInboxResponse[]): DeliveryReceipt[] =>
  entriesOf(items).flatMap((entry) => (entry.receipt ? [entry.receipt] : []));

function describeEntry(entry: InboxEntry): string {
  if (entry.message) return `message ${entry.serverMessageId}`;
  if (entry.receipt) return `receipt of ${entry.receipt.serverMessageIds.join(',')}`;
  if (entry.system) return `system entry of kind ${entry.system.kind}`;
  return 'entries dropped';
}

/** One device's StreamInbox call, its items collected as they arrive. */
export class InboxStream extends CollectedStream<StreamInboxResponse> {
  constructor(client: FanoutStreamingClient, token: string, afterSequence = 0) {
    const metadata = new Metadata();
    metadata.set('authorization', `Bearer ${token}`);
    super(client.StreamInbox({ afterSequence }, metadata), (items) =>
      JSON.stringify(
        items.map((item) =>
          item.entry ? `${item.entry.sequence}: ${describeEntry(item.entry)}` : Object.keys(item).join(','),
        ),
      ),
    );
  }

  entries(): InboxEntry[] {
    return entriesOf(this.items);
  }

  messageIds(): string[] {
    return messagesOf(this.items).map((entry) => entry.serverMessageId);
  }

  /** The entries before the first caught_up, and the last sequence it names. */
  backlog(): { entries: InboxEntry[]; lastSequence: number } {
    const index = this.items.findIndex((item) => item.caughtUp);
    if (index < 0) throw new Error(`not caught up: ${this.describe()}`);
    return {
      entries: entriesOf(this.items.slice(0, index)),
      lastSequence: this.items[index]!.caughtUp!.lastSequence,
    };
  }
}

/**
 * Opens a device's inbox stream and waits for its caught_up, opening it again while fanout answers
 * with one of `retryOn` (by default UNAVAILABLE: it has not learned of the device yet).
 */
export function openInboxStream(
  client: FanoutStreamingClient,
  token: string,
  options: { afterSequence?: number; retryOn?: readonly status[]; timeoutMs?: number } = {},
): Promise<InboxStream> {
  return eventually(
    async () => {
      const stream = new InboxStream(client, token, options.afterSequence ?? 0);
      try {
        await stream.until((items) => items.find((item) => item.caughtUp));
      } catch (error) {
        stream.cancel();
        throw error;
      }
      return stream;
    },
    { retryOn: options.retryOn ?? [status.UNAVAILABLE], timeoutMs: options.timeoutMs ?? 30_000 },
  );
}
