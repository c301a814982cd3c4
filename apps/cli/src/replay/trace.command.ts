import type { DocumentStore } from '@tandem/documents';
import { entryRecordId, type InboxEntryRecord, type InboxHeadRecord } from '@tandem/fanout-service';
import type { IncomingRecord } from '@tandem/messaging';
import { type CommandIO, type Connection, serviceTopic } from './connection';
import { decodeRecord, type EventJson } from './event-json';
import type { LogSource } from './log-source';
import { planRead, startPosition } from './positions';
import { ProgressMeter } from './progress';

export interface TraceOptions {
  readonly serverMessageId: string;
  /** Start the search here rather than at the topic's beginning. */
  readonly since?: string;
  readonly json?: boolean;
  readonly progress?: boolean;
}

/** A step in a message's life. */
export type TraceItem =
  | { readonly kind: 'event'; readonly at: string; readonly event: EventJson }
  | {
      readonly kind: 'inbox-entry';
      readonly at: string;
      readonly accountId: string;
      readonly deviceId: number;
      readonly sequence: number;
      /** Whether the entry's content is stored (it is, until acked, expired or dropped). */
      readonly stored: boolean;
    };

interface Payload {
  readonly accountId?: string;
  readonly serverMessageId?: string;
  readonly serverMessageIds?: readonly string[];
  readonly receipt?: { readonly serverMessageIds?: readonly string[] };
  readonly receipts?: readonly { readonly serverMessageIds?: readonly string[] }[];
}

/**
 * Whether a fan-out event is about the message: accepts it, syncs it, acks it by id, expires it or
 * receipts it (alone or among the gathered receipts of a window). A cumulative ack names sequence
 * numbers, not messages; the entries the live projection still holds show which devices have not
 * acked it.
 */
export function namesMessage(event: EventJson, serverMessageId: string): boolean {
  const payload = event.payload as Payload | undefined;
  if (!payload) return false;
  return (
    payload.serverMessageId === serverMessageId ||
    (payload.serverMessageIds ?? []).includes(serverMessageId) ||
    (payload.receipt?.serverMessageIds ?? []).includes(serverMessageId) ||
    (payload.receipts ?? []).some((receipt) => (receipt.serverMessageIds ?? []).includes(serverMessageId))
  );
}

/** The message's inbox entries that the live inbox projection holds, in the accounts named. */
export async function inboxEntriesOf(
  store: DocumentStore,
  accountIds: Iterable<string>,
  serverMessageId: string,
): Promise<TraceItem[]> {
  const heads = store.collection<InboxHeadRecord>('inbox_heads');
  const entries = store.collection<InboxEntryRecord>('inbox_entries');
  const items: TraceItem[] = [];
  for (const accountId of accountIds) {
    const head = await heads.get(accountId);
    for (const inbox of head?.inboxes ?? []) {
      for (const pending of inbox.pending) {
        if (pending.serverMessageId !== serverMessageId) continue;
        const stored = await entries.get(entryRecordId(accountId, inbox.deviceId, pending.sequence));
        items.push({
          kind: 'inbox-entry',
          at: new Date(pending.appendedAt).toISOString(),
          accountId,
          deviceId: inbox.deviceId,
          sequence: pending.sequence,
          stored: stored !== null,
        });
      }
    }
  }
  return items;
}

/** At one time (one commit, one ack): acceptance, sync copies, the entries they made, acks, receipts. */
const STEP_RANK: Readonly<Record<string, number>> = {
  MessageAccepted: 0,
  SentMessageSynced: 1,
  InboxAcked: 3,
  InboxExpired: 4,
  ReceiptIssued: 5,
};

function orderKey(item: TraceItem): [number, number, string, bigint] {
  if (item.kind === 'inbox-entry')
    return [2, 0, `${item.accountId}\u0000${item.deviceId}`, BigInt(item.sequence)];
  return [STEP_RANK[item.event.type] ?? 6, item.event.partition, '', BigInt(item.event.offset)];
}

/** Time order; at one time, in the order of the message's steps, then by position. */
export function inTimeOrder(items: readonly TraceItem[]): TraceItem[] {
  return [...items].sort((a, b) => {
    if (a.at !== b.at) return a.at < b.at ? -1 : 1;
    const [x, y] = [orderKey(a), orderKey(b)];
    for (let index = 0; index < x.length; index++) {
      if (x[index]! !== y[index]!) return x[index]! < y[index]! ? -1 : 1;
    }
    return 0;
  });
}

const devices = (envelopes: readonly { deviceId?: number }[] | undefined): string =>
  (envelopes ?? []).map((envelope) => envelope.deviceId ?? 0).join(', ') || 'none';

/** One line of the trace for a person. */
export function describeItem(item: TraceItem): string {
  if (item.kind === 'inbox-entry') {
    const state = item.stored ? 'pending: not acked yet' : 'pending, its content missing';
    return `${item.at}  inbox entry          ${item.accountId} device ${item.deviceId} sequence ${item.sequence} (${state})`;
  }
  const { event } = item;
  const where = `p${event.partition}@${event.offset}`;
  const payload = event.payload as Record<string, unknown>;
  let what: string;
  switch (event.type) {
    case 'MessageAccepted':
      what =
        `${String(payload['senderAccountId'])} device ${String(payload['senderDeviceId'] ?? 0)} -> ` +
        `${String(payload['accountId'])}, envelopes for devices ${devices(payload['envelopes'] as never)} ` +
        `(client message id ${String(payload['clientMessageId'] ?? '')})`;
      break;
    case 'SentMessageSynced':
      what = `copies for the sender's other devices: ${String(payload['accountId'])} devices ${devices(payload['envelopes'] as never)}`;
      break;
    case 'InboxAcked':
      what = `${String(payload['accountId'])} device ${String(payload['deviceId'] ?? 0)} acked it`;
      break;
    case 'InboxExpired':
      what = `${String(payload['accountId'])} device ${String(payload['deviceId'] ?? 0)}: expired unacked`;
      break;
    case 'ReceiptIssued': {
      const receipt = (payload['receipt'] ?? {}) as Record<string, unknown>;
      what =
        `to ${String(payload['accountId'])}'s devices: ${String(receipt['recipientAccountId'])} device ` +
        `${String(receipt['recipientDeviceId'] ?? 0)} received it (receipt ${String(payload['serverMessageId'])})`;
      break;
    }
    default:
      what = JSON.stringify(payload);
  }
  return `${item.at}  ${event.type.padEnd(19)}  ${where.padEnd(8)}  ${what}`;
}

/**
 * `tandem trace <server-message-id>`: the message's life in time order, from the fan-out topic (it
 * accepted, synced, acked, expired, receipted) and the live inbox projection (the entries it left
 * in devices' inboxes, with their sequence). Records are searched for the id's bytes before any is
 * decoded. Returns 1 when no event names the message.
 */
export async function traceMessage(
  options: TraceOptions,
  connection: Connection,
  source: LogSource,
  inboxes: (() => Promise<{ store: DocumentStore; description: string }>) | undefined,
  io: CommandIO,
): Promise<number> {
  const id = options.serverMessageId;
  const topic = serviceTopic(connection, 'fanout');
  const start = startPosition({ ...(options.since === undefined ? {} : { since: options.since }) });
  const ranges = await source.partitions(topic);
  const timeOffsets = start.kind === 'time' ? await source.offsetsForTime(topic, start.timestamp) : undefined;
  const plans = planRead(ranges, start, false, timeOffsets);
  const progress = new ProgressMeter(
    { write: (text) => io.errRaw(text), isTTY: io.errIsTTY },
    options.progress === true || io.errIsTTY,
    Number(plans.reduce((sum, plan) => sum + ((plan.to ?? plan.from) - plan.from), 0n)),
  );

  const found: EventJson[] = [];
  const consider = (record: IncomingRecord) => {
    if (!Buffer.from(record.value.buffer, record.value.byteOffset, record.value.byteLength).includes(id))
      return;
    const event = decodeRecord(record);
    if (namesMessage(event, id)) found.push(event);
  };
  await source.read(
    topic,
    plans,
    (batch) => {
      for (const record of batch.records) consider(record);
      progress.advance(batch.partition, batch.records.at(-1)!.offset, batch.records.length);
    },
    { follow: false },
  );
  progress.finish('searched');

  if (found.length === 0) {
    io.err(`no event on ${topic} names the message ${id}${options.since ? ` since ${options.since}` : ''}`);
    return 1;
  }
  const items: TraceItem[] = found.map((event) => ({
    kind: 'event',
    at: event.occurredAt || event.timestamp,
    event,
  }));
  const accounts = new Set(
    found
      .filter((event) => event.type === 'MessageAccepted' || event.type === 'SentMessageSynced')
      .map((event) => (event.payload as Payload).accountId ?? event.partitionKey),
  );
  let inboxNote: string | undefined;
  if (inboxes) {
    const live = await inboxes();
    items.push(...(await inboxEntriesOf(live.store, accounts, id)));
    inboxNote = `inbox entries from ${live.description} (acked, expired and dropped entries are gone from it)`;
  } else {
    inboxNote = 'inbox entries not shown: no read models to read them from (give --mongo or MONGODB_URI)';
  }
  const ordered = inTimeOrder(items);
  if (options.json) {
    await io.out(ordered.map((item) => JSON.stringify(item)).join('\n'));
    io.err(inboxNote);
  } else {
    await io.out([`message ${id} on ${topic}`, ...ordered.map(describeItem), inboxNote].join('\n'));
  }
  return 0;
}
