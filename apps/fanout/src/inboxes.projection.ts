import { type Span, SpanStatusCode } from '@opentelemetry/api';
import { InboxEntry } from '@tandem/contracts/events/tandem/fanout/v1/inbox';
import type { Document, DocumentCollection } from '@tandem/documents';
import { type EventMetadata, fromRecord, startEventSpan } from '@tandem/event-sourcing';
import {
  appendEntries,
  type DeviceInbox,
  emptyInbox,
  type FanoutDomainEvent,
  type InboxChange,
  maxInboxDepth,
  messageEntries,
  type NewInboxEntry,
  removeEntries,
} from '@tandem/fanout-domain';
import type { RecordBatch } from '@tandem/messaging';
import {
  LATENCY_BUCKETS_SECONDS,
  secondsSince,
  tandemMeter,
  type TraceContext,
  traceContextOf,
} from '@tandem/observability';
import type { DeviceListRecord, DeviceListsProjection } from './device-lists.projection';
import { fanoutEventCodec } from './fanout.codecs';

/** The inboxes of one account and how far into tandem.fanout.events they reflect. */
export interface InboxHeadRecord extends Document {
  readonly accountId: string;
  /** The partition and offset of the last event applied to this account's inboxes. */
  readonly partition: number;
  readonly offset: string;
  readonly inboxes: readonly DeviceInbox[];
  /** Devices that left the account: they get no more entries. */
  readonly closed: readonly number[];
  /**
   * The ids of the last events applied, newest last: an event relayed twice (two instances'
   * relays, moments apart) comes at a later offset and is recognised here.
   */
  readonly recent: readonly string[];
}

/** How many applied event ids a head remembers. */
const RECENT_EVENTS = 256;

/** The content of one inbox entry, stored apart from the head. */
export interface InboxEntryRecord extends Document {
  readonly accountId: string;
  readonly deviceId: number;
  readonly sequence: number;
  /** The InboxEntry, protobuf-encoded, base64. */
  readonly entry: string;
  /** W3C trace context of the span that appended the entry (its push continues that trace); '' if none. */
  readonly traceparent: string;
  readonly tracestate: string;
}

/** A stored inbox entry with the trace context of the span that appended it. */
export interface TracedEntry {
  readonly entry: InboxEntry;
  readonly trace?: TraceContext;
}

export const entryRecordId = (accountId: string, deviceId: number, sequence: number): string =>
  `${accountId}:${deviceId}:${sequence}`;

/** Entries appended to one device's inbox by a batch, for the device's open stream. */
export interface AppendedEntries {
  readonly accountId: string;
  readonly deviceId: number;
  readonly entries: readonly InboxEntry[];
  /** The trace context of the span that appended each entry, by index. */
  readonly traces?: readonly (TraceContext | undefined)[];
}

type Head = { -readonly [K in keyof InboxHeadRecord]: InboxHeadRecord[K] };

/** One event's entries in one device's inbox: traced from the event until they are stored. */
interface Append {
  readonly span: Span;
  readonly metadata: EventMetadata;
  readonly depth: number;
}

/** What one batch changes: entries to store and delete, heads to write, streams to wake. */
class BatchEffects {
  readonly inserts: InboxEntryRecord[] = [];
  readonly deletes: string[] = [];
  readonly appended = new Map<string, AppendedEntries>();
  readonly appends: Append[] = [];

  record(accountId: string, change: InboxChange, metadata: EventMetadata): void {
    const { deviceId } = change.inbox;
    const trace = change.appended.length > 0 ? this.startAppend(accountId, change, metadata) : undefined;
    for (const entry of change.appended) {
      this.inserts.push({
        _id: entryRecordId(accountId, deviceId, entry.sequence),
        accountId,
        deviceId,
        sequence: entry.sequence,
        entry: Buffer.from(InboxEntry.encode(entry).finish()).toString('base64'),
        traceparent: trace?.traceparent ?? '',
        tracestate: trace?.tracestate ?? '',
      });
    }
    for (const removed of change.removed)
      this.deletes.push(entryRecordId(accountId, deviceId, removed.sequence));
    if (change.appended.length === 0) return;
    const key = `${accountId}:${deviceId}`;
    const known = this.appended.get(key);
    this.appended.set(key, {
      accountId,
      deviceId,
      entries: [...(known?.entries ?? []), ...change.appended],
      traces: [...(known?.traces ?? []), ...change.appended.map(() => trace)],
    });
  }

  /** A span `fanout.inbox.append` per event and device, a child of the event's; ids only, no content. */
  private startAppend(
    accountId: string,
    change: InboxChange,
    metadata: EventMetadata,
  ): TraceContext | undefined {
    const span = startEventSpan('fanout.inbox.append', metadata, {
      'tandem.account.id': accountId,
      'tandem.device.id': change.inbox.deviceId,
      'tandem.inbox.sequence': change.appended[0]!.sequence,
      'tandem.inbox.entries': change.appended.length,
    });
    this.appends.push({ span, metadata, depth: change.inbox.pending.length });
    return traceContextOf(span);
  }
}

/**
 * The inbox projection: every device's inbox, from tandem.fanout.events. Each event names the one
 * account whose inboxes it changes and is keyed by it, so one consumer writes an account's inboxes,
 * in log order. Per batch it reads the heads of the accounts in it, applies the events the heads
 * have not seen (each head records the offset of its last event and the ids of its last events),
 * stores the new entries, deletes
 * the removed ones and writes the heads last: after a crash the batch comes again, the heads say
 * what was applied, and the same events give the same entries and sequence numbers.
 */
export class InboxesProjection {
  private readonly latency = tandemMeter().createHistogram('tandem.fanout.inbox.latency', {
    unit: 's',
    description: 'Time from the acceptance of a message, receipt or system entry until it is in an inbox',
    advice: { explicitBucketBoundaries: LATENCY_BUCKETS_SECONDS },
  });
  private readonly depth = tandemMeter().createHistogram('tandem.fanout.inbox.depth', {
    unit: '{entry}',
    description: 'Entries pending in an inbox after an append',
    advice: { explicitBucketBoundaries: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000] },
  });

  constructor(
    private readonly heads: DocumentCollection<InboxHeadRecord>,
    private readonly entries: DocumentCollection<InboxEntryRecord>,
    private readonly deviceLists: DeviceListsProjection,
    private readonly onAppended: (appended: readonly AppendedEntries[]) => void,
  ) {}

  async applyBatch(batch: RecordBatch): Promise<void> {
    const events = batch.records
      .map(fromRecord)
      .filter(({ metadata }) => metadata.payloadType === fanoutEventCodec.payloadType)
      .map(({ metadata, payload }) => ({ metadata, event: fanoutEventCodec.decode(payload) }))
      .filter(({ event }) => changesInboxes(event));
    if (events.length === 0) return;

    const accountIds = [...new Set(events.map(({ event }) => event.value.accountId))];
    const stored = new Map((await this.heads.getMany(accountIds)).map((head) => [head._id, head]));
    const heads = new Map<string, Head>();
    const lists = new Map<string, DeviceListRecord | null>();
    const effects = new BatchEffects();

    for (const { event, metadata } of events) {
      const accountId = event.value.accountId;
      const head = heads.get(accountId) ?? copyOf(stored.get(accountId), accountId);
      heads.set(accountId, head);
      if (head.partition === metadata.partition && BigInt(metadata.offset) <= BigInt(head.offset)) continue;
      if (head.recent.includes(metadata.eventId)) continue;
      if (!lists.has(accountId)) lists.set(accountId, await this.deviceLists.get(accountId));
      this.apply(head, event, metadata, lists.get(accountId) ?? null, effects);
      head.partition = metadata.partition;
      head.offset = metadata.offset;
      head.recent = [...head.recent.slice(-(RECENT_EVENTS - 1)), metadata.eventId];
    }

    try {
      await this.entries.insertNew(effects.inserts);
      await this.entries.deleteIds(effects.deletes);
      await this.heads.putMany([...heads.values()]);
    } catch (error) {
      this.finish(effects.appends, error);
      throw error;
    }
    this.finish(effects.appends);
    if (effects.appended.size > 0) this.onAppended([...effects.appended.values()]);
  }

  /** Ends the appends' spans once their entries are stored (or failed to be), and measures them. */
  private finish(appends: readonly Append[], error?: unknown): void {
    for (const { span, metadata, depth } of appends) {
      if (error) {
        span.recordException(error instanceof Error ? error : String(error));
        span.setStatus({ code: SpanStatusCode.ERROR });
      } else {
        this.latency.record(secondsSince(metadata.occurredAt), { 'tandem.event.type': metadata.type });
        this.depth.record(depth);
      }
      span.end();
    }
  }

  /** The account's inboxes as they are stored. */
  head(accountId: string): Promise<InboxHeadRecord | null> {
    return this.heads.get(accountId);
  }

  /** Every account's inboxes, for the expiry sweep. */
  allHeads(): Promise<InboxHeadRecord[]> {
    return this.heads.find({});
  }

  /** The stored entries of one device with these sequence numbers, in sequence order. */
  async entriesOf(accountId: string, deviceId: number, sequences: readonly number[]): Promise<TracedEntry[]> {
    const records = await this.entries.getMany(
      sequences.map((sequence) => entryRecordId(accountId, deviceId, sequence)),
    );
    return records
      .sort((a, b) => a.sequence - b.sequence)
      .map((record) => ({
        entry: InboxEntry.decode(Buffer.from(record.entry, 'base64')),
        trace: { traceparent: record.traceparent, tracestate: record.tracestate },
      }));
  }

  private apply(
    head: Head,
    event: FanoutDomainEvent,
    metadata: EventMetadata,
    list: DeviceListRecord | null,
    effects: BatchEffects,
  ): void {
    const append = (deviceId: number, entries: readonly NewInboxEntry[]) => {
      if (head.closed.includes(deviceId)) return;
      const primary = list?.devices.find((device) => device.deviceId === deviceId)?.primary ?? false;
      const change = appendEntries(inboxOf(head, deviceId), entries, {
        now: metadata.occurredAt,
        maxDepth: maxInboxDepth(primary),
        noticeId: `${metadata.eventId}:dropped:${deviceId}`,
      });
      setInbox(head, change.inbox);
      effects.record(head.accountId, change, metadata);
    };
    const toEveryDevice = (entry: NewInboxEntry) => {
      for (const device of list?.devices ?? []) append(device.deviceId, [entry]);
    };
    const remove = (deviceId: number, ids: readonly string[]) => {
      const change = removeEntries(inboxOf(head, deviceId), ids);
      setInbox(head, change.inbox);
      effects.record(head.accountId, change, metadata);
    };

    switch (event.$case) {
      case 'messageAccepted':
        for (const { device, entry } of messageEntries(event.value)) append(device.deviceId, [entry]);
        return;
      case 'sentMessageSynced': {
        const synced = event.value;
        for (const envelope of synced.envelopes) {
          append(envelope.deviceId, [
            {
              serverMessageId: synced.serverMessageId,
              content: {
                $case: 'message',
                value: {
                  senderAccountId: synced.accountId,
                  senderDeviceId: synced.senderDeviceId,
                  recipientAccountId: synced.recipientAccountId,
                  serverTimestamp: synced.serverTimestamp,
                  type: envelope.type,
                  content: envelope.content,
                },
              },
            },
          ]);
        }
        return;
      }
      case 'receiptIssued':
        if (event.value.receipt) {
          toEveryDevice({
            serverMessageId: event.value.serverMessageId,
            content: { $case: 'receipt', value: event.value.receipt },
          });
        }
        return;
      case 'systemEntryAccepted':
        if (event.value.entry) {
          toEveryDevice({
            serverMessageId: event.value.serverMessageId,
            content: { $case: 'system', value: event.value.entry },
          });
        }
        return;
      case 'inboxAcked':
      case 'inboxExpired':
        remove(event.value.deviceId, event.value.serverMessageIds);
        return;
      case 'inboxClosed': {
        const { deviceId } = event.value;
        const inbox = inboxOf(head, deviceId);
        remove(
          deviceId,
          inbox.pending.map((entry) => entry.serverMessageId),
        );
        head.inboxes = head.inboxes.filter((known) => known.deviceId !== deviceId);
        if (!head.closed.includes(deviceId)) head.closed = [...head.closed, deviceId];
        return;
      }
      case 'deviceConnected':
      case 'deviceDisconnected':
      case 'instanceAlive':
        return;
      default:
        event satisfies never;
    }
  }
}

/** Connections and instance liveness are presence's business; they change no inbox. */
const changesInboxes = (event: FanoutDomainEvent): boolean =>
  event.$case !== 'deviceConnected' &&
  event.$case !== 'deviceDisconnected' &&
  event.$case !== 'instanceAlive';

function copyOf(stored: InboxHeadRecord | undefined, accountId: string): Head {
  return stored
    ? { ...stored, recent: stored.recent ?? [] }
    : { _id: accountId, accountId, partition: -1, offset: '-1', inboxes: [], closed: [], recent: [] };
}

function inboxOf(head: Head, deviceId: number): DeviceInbox {
  return head.inboxes.find((inbox) => inbox.deviceId === deviceId) ?? emptyInbox(deviceId);
}

function setInbox(head: Head, inbox: DeviceInbox): void {
  head.inboxes = [...head.inboxes.filter((known) => known.deviceId !== inbox.deviceId), inbox].sort(
    (a, b) => a.deviceId - b.deviceId,
  );
}
