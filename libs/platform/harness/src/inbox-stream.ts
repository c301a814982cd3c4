import { Metadata, status } from '@grpc/grpc-js';
import type { StreamInboxResponse } from '@tandem/contracts/tandem/fanout/v1/fanout_service';
import type { DeliveryReceipt, InboxEntry } from '@tandem/contracts/tandem/fanout/v1/inbox';
import { CollectedStream } from './collected-stream';
import { eventually } from './grpc-client';
import type { FanoutStreamingClient } from './streaming-clients';

export const entriesOf = (items: readonly StreamInboxResponse[]): InboxEntry[] =>
  items.flatMap((item) => (item.entry ? [item.entry] : []));

export const messagesOf = (items: readonly StreamInboxResponse[]): InboxEntry[] =>
  entriesOf(items).filter((entry) => entry.message);

/** The delivery receipts the items hold, single or gathered in one entry. */
export const receiptsOf = (items: readonly StreamInboxResponse[]): DeliveryReceipt[] =>
  entriesOf(items).flatMap((entry) => [
    ...(entry.receipt ? [entry.receipt] : []),
    ...(entry.receipts?.receipts ?? []),
  ]);

function describeEntry(entry: InboxEntry): string {
  if (entry.message) return `message ${entry.serverMessageId}`;
  if (entry.receipt) return `receipt of ${entry.receipt.serverMessageIds.join(',')}`;
  if (entry.receipts) {
    return `receipts of ${entry.receipts.receipts.flatMap((receipt) => receipt.serverMessageIds).join(',')}`;
  }
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
