import { Metadata, status } from '@grpc/grpc-js';
import type { StreamInboxResponse } from '@tandem/contracts/tandem/fanout/v1/fanout_service';
import type { DeliveryReceipt, InboxEntry } from '@tandem/contracts/tandem/fanout/v1/inbox';
import { CollectedStream } from './collected-stream';
import { eventually } from './grpc-client';
import type { FanoutStreamingClient } from './streaming-clients';

export const entriesOf = (items: readonly StreamInboxResponse[]): InboxEntry[] =>
  items.flatMap(({ item }) => (item?.$case === 'entry' ? [item.value] : []));

export const messagesOf = (items: readonly StreamInboxResponse[]): InboxEntry[] =>
  entriesOf(items).filter((entry) => entry.content?.$case === 'message');

/** The delivery receipts the items hold, single or gathered in one entry. */
export const receiptsOf = (items: readonly StreamInboxResponse[]): DeliveryReceipt[] =>
  entriesOf(items).flatMap(({ content }) =>
    content?.$case === 'receipt'
      ? [content.value]
      : content?.$case === 'receipts'
        ? content.value.receipts
        : [],
  );

/** The last sequence a caught_up item names, if it is one. */
const caughtUpThrough = ({ item }: StreamInboxResponse): number | undefined =>
  item?.$case === 'caughtUp' ? item.value.lastSequence : undefined;

function describeEntry(entry: InboxEntry): string {
  const content = entry.content;
  switch (content?.$case) {
    case 'message':
      return `message ${entry.serverMessageId}`;
    case 'receipt':
      return `receipt of ${content.value.serverMessageIds.join(',')}`;
    case 'receipts':
      return `receipts of ${content.value.receipts.flatMap((receipt) => receipt.serverMessageIds).join(',')}`;
    case 'system':
      return `system entry of kind ${content.value.kind}`;
    default:
      return 'entries dropped';
  }
}

/** One device's StreamInbox call, its items collected as they arrive. */
export class InboxStream extends CollectedStream<StreamInboxResponse> {
  constructor(client: FanoutStreamingClient, token: string, afterSequence = 0) {
    const metadata = new Metadata();
    metadata.set('authorization', `Bearer ${token}`);
    super(client.StreamInbox({ afterSequence }, metadata), (items) =>
      JSON.stringify(
        items.map(({ item }) =>
          item?.$case === 'entry' ? `${item.value.sequence}: ${describeEntry(item.value)}` : item?.$case,
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
    const index = this.items.findIndex((item) => caughtUpThrough(item) !== undefined);
    if (index < 0) throw new Error(`not caught up: ${this.describe()}`);
    return {
      entries: entriesOf(this.items.slice(0, index)),
      lastSequence: caughtUpThrough(this.items[index]!)!,
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
        await stream.until((items) => items.find((item) => caughtUpThrough(item) !== undefined));
      } catch (error) {
        stream.cancel();
        throw error;
      }
      return stream;
    },
    { retryOn: options.retryOn ?? [status.UNAVAILABLE], timeoutMs: options.timeoutMs ?? 30_000 },
  );
}
