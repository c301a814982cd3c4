import type { Span } from '@opentelemetry/api';
import { InboxEntry } from '@tandem/contracts/tandem/fanout/v1/inbox';
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
  type PendingEntry,
  removeEntries,
} from '@tandem/fanout-domain';
import { type CommitPosition, partitionForKey, type RecordBatch } from '@tandem/messaging';
import {
  LATENCY_BUCKETS_SECONDS,
  makesSpansPerEntry,
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

/** An entry appended in memory and not yet stored. */
interface UnstoredEntry {
  readonly accountId: string;
  readonly deviceId: number;
  readonly entry: InboxEntry;
  readonly trace?: TraceContext;
}

/** One event's entries in one device's inbox, traced from the event until they are appended. */
interface Append {
  /** None where spans per entry are not made. */
  readonly span?: Span;
  readonly metadata: EventMetadata;
  readonly depth: number;
}

/** Entries of a device that an ack removed, for its delivery receipts. */
export interface AckedEntries {
  readonly accountId: string;
  readonly deviceId: number;
  readonly entries: readonly PendingEntry[];
  readonly ackedAt: Date;
}

/** A device's acks applied in memory, to be recorded in the log. */
export interface AcksToRecord {
  readonly accountId: string;
  readonly deviceId: number;
  throughSequence: number;
  readonly serverMessageIds: string[];
}

/** An ack that removed these entries, as the log records it: through the sequence, and the ids beyond. */
export function ackToRecord(
  device: { readonly accountId: string; readonly deviceId: number },
  removed: readonly PendingEntry[],
  throughSequence: number,
): AcksToRecord {
  return {
    accountId: device.accountId,
    deviceId: device.deviceId,
    throughSequence,
    serverMessageIds: removed
      .filter((entry) => entry.sequence > throughSequence)
      .map((entry) => entry.serverMessageId),
  };
}

/** What the projection tells the rest of the service; every joint is optional. */
export interface InboxesListener {
  /** Entries were appended to devices' inboxes (in memory): their streams send them now. */
  readonly appended?: (appended: readonly AppendedEntries[]) => void;
  /** A device acked entries; they left its inbox. */
  readonly acked?: (acked: AckedEntries) => void;
  /** A checkpoint stored these devices' entries; streams elsewhere may read them from the store. */
  readonly stored?: (stored: readonly AppendedEntries[]) => void;
}

/**
 * When the projection stores what it applied: after every batch (a rebuild, a test), or when the
 * owner calls `checkpoint` (the service, every second or so).
 */
export type CheckpointMode = 'every-batch' | 'deferred';

/** What one batch changed, for the streams and the spans. */
class BatchEffects {
  readonly appended = new Map<
    string,
    { accountId: string; deviceId: number; entries: InboxEntry[]; traces: (TraceContext | undefined)[] }
  >();
  readonly appends: Append[] = [];

  record(accountId: string, change: InboxChange, metadata: EventMetadata): TraceContext | undefined {
    if (change.appended.length === 0) return undefined;
    let trace: TraceContext | undefined;
    if (makesSpansPerEntry()) {
      trace = this.startAppend(accountId, change, metadata);
    } else {
      this.appends.push({ metadata, depth: change.inbox.pending.length });
      if (metadata.traceparent)
        trace = { traceparent: metadata.traceparent, tracestate: metadata.tracestate };
    }
    const key = `${accountId}:${change.inbox.deviceId}`;
    let known = this.appended.get(key);
    if (!known) {
      known = { accountId, deviceId: change.inbox.deviceId, entries: [], traces: [] };
      this.appended.set(key, known);
    }
    for (const entry of change.appended) {
      known.entries.push(entry);
      known.traces.push(trace);
    }
    return trace;
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
 * The inbox projection: every device's inbox, from tandem.fanout.events, folded in memory by the
 * instance that consumes the account's partition. Each event names the one account whose inboxes it
 * changes and is keyed by it, so one consumer writes an account's inboxes, in log order, and the
 * same events give the same sequence numbers, entries and drop notices (the fold lives in
 * libs/fanout-domain). New entries go to the devices' streams as soon as they are applied.
 *
 * A checkpoint stores what changed since the last one, in bulk: the heads of the accounts it
 * changed (each records the offset of its last event and the ids of its last events), the entries
 * still pending (an entry acked before the checkpoint never touches the store) and the deletion
 * of stored entries that left; only then is the log position committed. After a crash the log is
 * read again from the committed position, the heads say which events they already hold, and the
 * same events give the same entries again.
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

  /** The heads of the accounts this instance folds, as applied in memory. */
  private readonly live = new Map<string, Head>();
  /** Entries appended since the last checkpoint and still pending, by record id. */
  private readonly unstored = new Map<string, UnstoredEntry>();
  /**
   * The entries the running checkpoint is inserting: no longer unstored, maybe not in the store
   * yet, so a stream reading its backlog meanwhile finds them here.
   */
  private storing: ReadonlyMap<string, UnstoredEntry> = new Map();
  /** Stored entries that left their inbox since the last checkpoint. */
  private readonly removedStored = new Set<string>();
  /** Acks applied here since they were last taken for the log, by device. */
  private ackedHere = new Map<string, AcksToRecord>();
  /** Accounts whose head changed since the last checkpoint. */
  private readonly dirty = new Set<string>();
  /** The next offset to apply, by partition: what a checkpoint lets the group commit. */
  private readonly positions = new Map<string, CommitPosition>();
  private checkpointing: Promise<unknown> = Promise.resolve();
  private readonly listener: InboxesListener;
  /** The partitions this instance folds, once the consumer group said; with `partitions` known. */
  private owned: ReadonlySet<number> | undefined;

  constructor(
    private readonly heads: DocumentCollection<InboxHeadRecord>,
    private readonly entries: DocumentCollection<InboxEntryRecord>,
    private readonly deviceLists: DeviceListsProjection,
    listener: InboxesListener | ((appended: readonly AppendedEntries[]) => void),
    private readonly mode: CheckpointMode = 'every-batch',
    /** The topic's partition count, by which an instance knows the accounts it folds. */
    private readonly partitions?: number,
  ) {
    this.listener = typeof listener === 'function' ? { appended: listener } : listener;
  }

  async applyBatch(batch: RecordBatch): Promise<void> {
    const events = batch.records
      .map(fromRecord)
      .filter(({ metadata }) => metadata.payloadType === fanoutEventCodec.payloadType)
      .map(({ metadata, payload }) => ({ metadata, event: fanoutEventCodec.decode(payload) }))
      .filter(({ event }) => changesInboxes(event));
    const last = batch.records.at(-1);
    const position = last && {
      topic: batch.topic,
      partition: batch.partition,
      nextOffset: (BigInt(last.offset) + 1n).toString(),
    };
    if (events.length === 0) {
      if (position) this.positions.set(`${batch.topic}:${batch.partition}`, position);
      if (this.mode === 'every-batch') await this.checkpoint();
      return;
    }

    const accountIds = [...new Set(events.map(({ event }) => event.value.accountId))];
    await this.load(accountIds.filter((accountId) => !this.live.has(accountId)));
    const lists = new Map(
      await Promise.all(
        accountIds.map(
          async (accountId) => [accountId, await this.deviceLists.get(accountId, false)] as const,
        ),
      ),
    );
    const effects = new BatchEffects();

    for (const { event, metadata } of events) {
      const accountId = event.value.accountId;
      const head = this.live.get(accountId)!;
      if (head.partition === metadata.partition && BigInt(metadata.offset) <= BigInt(head.offset)) continue;
      if (head.recent.includes(metadata.eventId)) continue;
      this.apply(head, event, metadata, lists.get(accountId) ?? null, effects);
      head.partition = metadata.partition;
      head.offset = metadata.offset;
      head.recent = [...head.recent.slice(-(RECENT_EVENTS - 1)), metadata.eventId];
      this.dirty.add(accountId);
    }
    if (position) this.positions.set(`${batch.topic}:${batch.partition}`, position);

    this.finish(effects.appends);
    if (effects.appended.size > 0) this.listener.appended?.([...effects.appended.values()]);
    if (this.mode === 'every-batch') await this.checkpoint();
  }

  /**
   * Stores what changed since the last checkpoint and returns the log positions it covers, for the
   * consumer to commit. One runs at a time; a failed one leaves its changes for the next.
   */
  checkpoint(): Promise<CommitPosition[]> {
    const run = this.checkpointing.then(() => this.store());
    this.checkpointing = run.catch(() => undefined);
    return run;
  }

  private async store(): Promise<CommitPosition[]> {
    const inserts = [...this.unstored];
    const deletes = [...this.removedStored];
    const heads = [...this.dirty].flatMap((accountId) => {
      const head = this.live.get(accountId);
      return head ? [{ ...head }] : [];
    });
    const positions = [...this.positions.values()];
    this.unstored.clear();
    this.storing = new Map(inserts);
    this.removedStored.clear();
    this.dirty.clear();
    try {
      // In slices, so that a large checkpoint does not hold the event loop (and the pushes) up.
      for (const slice of slices(inserts)) {
        await this.entries.insertNew(slice.map(([id, unstored]) => recordOf(id, unstored)));
        await yieldToEventLoop();
      }
      for (const slice of slices(deletes)) {
        await this.entries.deleteIds(slice);
        await yieldToEventLoop();
      }
      for (const slice of slices(heads, HEADS_SLICE)) {
        await this.heads.putMany(slice);
        await yieldToEventLoop();
      }
    } catch (error) {
      for (const [id, unstored] of inserts) if (!this.unstored.has(id)) this.unstored.set(id, unstored);
      for (const id of deletes) this.removedStored.add(id);
      for (const head of heads) this.dirty.add(head.accountId);
      throw error;
    } finally {
      this.storing = new Map();
    }
    if (inserts.length > 0) this.listener.stored?.(storedByDevice(inserts.map(([, unstored]) => unstored)));
    return positions;
  }

  /**
   * The group gave this instance these partitions of the topic: the heads of accounts in others are
   * dropped from memory (another instance writes them now) and read again from the store should a
   * partition come back.
   */
  assigned(partitions: readonly { readonly topic: string; readonly partition: number }[]): void {
    const owned = new Set(partitions.map(({ partition }) => partition));
    this.owned = owned;
    for (const [key, position] of this.positions)
      if (!owned.has(position.partition)) this.positions.delete(key);
    for (const [accountId, head] of this.live) {
      if (owned.has(head.partition)) continue;
      this.live.delete(accountId);
      this.dirty.delete(accountId);
    }
    for (const [id, unstored] of this.unstored)
      if (!this.live.has(unstored.accountId)) this.unstored.delete(id);
  }

  /**
   * Applies a device's ack here, in memory, when this instance folds the device's account and has
   * its inboxes loaded: the entries leave the inbox at once and the next checkpoint stores it (an
   * ack lost to a crash before then only delivers its entries again). Returns the entries removed,
   * or undefined when the ack must go through the log to the instance that folds the account.
   */
  ackHere(
    accountId: string,
    deviceId: number,
    serverMessageIds: readonly string[],
    throughSequence: number,
    ackedAt: Date,
  ): readonly PendingEntry[] | undefined {
    const head = this.live.get(accountId);
    if (!head || !this.folds(accountId)) return undefined;
    const inbox = head.inboxes.find((known) => known.deviceId === deviceId);
    if (!inbox) return [];
    const change = removeEntries(inbox, serverMessageIds, throughSequence);
    if (change.removed.length === 0) return [];
    setInbox(head, change.inbox);
    this.forget(accountId, deviceId, change.removed);
    this.dirty.add(accountId);
    this.noteAck(ackToRecord({ accountId, deviceId }, change.removed, throughSequence));
    this.listener.acked?.({ accountId, deviceId, entries: change.removed, ackedAt });
    return change.removed;
  }

  /**
   * The acks applied here since the last call, one per device (cumulative, plus the ids acked
   * beyond it), for the log: a checkpoint records them there first, so that folding the log again
   * (a rebuild, a new owner) removes the same entries. Folding its own record later removes nothing.
   */
  takeAcks(): AcksToRecord[] {
    const taken = [...this.ackedHere.values()];
    this.ackedHere = new Map();
    return taken;
  }

  /** Gives back acks that could not be recorded, for the next checkpoint. */
  returnAcks(acks: readonly AcksToRecord[]): void {
    for (const ack of acks) this.noteAck(ack);
  }

  /** Adds an ack to the device's acks to record: through the greater sequence, with every id. */
  private noteAck(ack: AcksToRecord): void {
    const key = `${ack.accountId}:${ack.deviceId}`;
    const known = this.ackedHere.get(key);
    if (!known) {
      this.ackedHere.set(key, { ...ack, serverMessageIds: [...ack.serverMessageIds] });
      return;
    }
    known.throughSequence = Math.max(known.throughSequence, ack.throughSequence);
    known.serverMessageIds.push(...ack.serverMessageIds);
  }

  /** Entries that left an inbox: never stored if they had not been yet, else deleted at the checkpoint. */
  private forget(accountId: string, deviceId: number, removed: readonly PendingEntry[]): void {
    for (const entry of removed) {
      const id = entryRecordId(accountId, deviceId, entry.sequence);
      if (!this.unstored.delete(id)) this.removedStored.add(id);
    }
  }

  /** Whether this instance folds the account's partition. */
  private folds(accountId: string): boolean {
    if (this.partitions === undefined || this.owned === undefined) return false;
    return this.owned.has(partitionForKey(accountId, this.partitions));
  }

  /** Reads the heads of accounts not in memory yet from the store. */
  private async load(accountIds: readonly string[]): Promise<void> {
    if (accountIds.length === 0) return;
    const stored = new Map((await this.heads.getMany(accountIds)).map((head) => [head._id, head]));
    for (const accountId of accountIds) {
      if (!this.live.has(accountId)) this.live.set(accountId, copyOf(stored.get(accountId), accountId));
    }
  }

  /** Ends the appends' spans once their entries are in their inboxes, and measures them. */
  private finish(appends: readonly Append[]): void {
    for (const { span, metadata, depth } of appends) {
      this.latency.record(secondsSince(metadata.occurredAt), { 'tandem.event.type': metadata.type });
      this.depth.record(depth);
      span?.end();
    }
  }

  /** The account's inboxes: as applied, on the instance that folds them; else as stored. */
  async head(accountId: string): Promise<InboxHeadRecord | null> {
    return this.live.get(accountId) ?? (await this.heads.get(accountId));
  }

  /** One device's inbox, as `head` reads it. */
  async inboxOf(accountId: string, deviceId: number): Promise<DeviceInbox | undefined> {
    return (await this.head(accountId))?.inboxes.find((known) => known.deviceId === deviceId);
  }

  /** Every account's inboxes as stored, for the expiry sweep. */
  allHeads(): Promise<InboxHeadRecord[]> {
    return this.heads.find({});
  }

  /** Up to `limit` entries of the device's inbox after `afterSequence`, in sequence order. */
  async pendingAfter(
    accountId: string,
    deviceId: number,
    afterSequence: number,
    limit: number,
  ): Promise<TracedEntry[]> {
    const inbox = await this.inboxOf(accountId, deviceId);
    const sequences = (inbox?.pending ?? [])
      .filter((entry) => entry.sequence > afterSequence)
      .slice(0, limit)
      .map((entry) => entry.sequence);
    return sequences.length === 0 ? [] : this.entriesOf(accountId, deviceId, sequences);
  }

  /** The entries of one device with these sequence numbers, in sequence order: unstored ones from memory. */
  async entriesOf(accountId: string, deviceId: number, sequences: readonly number[]): Promise<TracedEntry[]> {
    const found: TracedEntry[] = [];
    const missing: string[] = [];
    for (const sequence of sequences) {
      const id = entryRecordId(accountId, deviceId, sequence);
      const unstored = this.unstored.get(id) ?? this.storing.get(id);
      if (unstored) found.push({ entry: unstored.entry, trace: unstored.trace });
      else missing.push(id);
    }
    if (missing.length > 0) {
      for (const record of await this.entries.getMany(missing)) {
        found.push({
          entry: InboxEntry.decode(Buffer.from(record.entry, 'base64')),
          trace: { traceparent: record.traceparent, tracestate: record.tracestate },
        });
      }
    }
    return found.sort((a, b) => a.entry.sequence - b.entry.sequence);
  }

  /** How many accounts' inboxes are in memory, and entries not stored yet. */
  get sizes(): { readonly accounts: number; readonly unstored: number } {
    return { accounts: this.live.size, unstored: this.unstored.size };
  }

  private apply(
    head: Head,
    event: FanoutDomainEvent,
    metadata: EventMetadata,
    list: DeviceListRecord | null,
    effects: BatchEffects,
  ): void {
    const accountId = head.accountId;
    const record = (change: InboxChange) => {
      setInbox(head, change.inbox);
      const trace = effects.record(accountId, change, metadata);
      const { deviceId } = change.inbox;
      for (const entry of change.appended) {
        this.unstored.set(entryRecordId(accountId, deviceId, entry.sequence), {
          accountId,
          deviceId,
          entry,
          trace,
        });
      }
      this.forget(accountId, deviceId, change.removed);
    };
    const append = (deviceId: number, entries: readonly NewInboxEntry[]) => {
      if (head.closed.includes(deviceId)) return;
      const primary = list?.devices.find((device) => device.deviceId === deviceId)?.primary ?? false;
      record(
        appendEntries(inboxOf(head, deviceId), entries, {
          now: metadata.occurredAt,
          maxDepth: maxInboxDepth(primary),
          noticeId: `${metadata.eventId}:dropped:${deviceId}`,
        }),
      );
    };
    /** To the devices the record names, or (records from before they did) every device the list has. */
    const toEveryDevice = (entry: NewInboxEntry, deviceIds: readonly number[]) => {
      const targets =
        deviceIds.length > 0 ? deviceIds : (list?.devices ?? []).map((device) => device.deviceId);
      for (const deviceId of targets) append(deviceId, [entry]);
    };
    const remove = (deviceId: number, ids: readonly string[], throughSequence = 0): InboxChange => {
      const change = removeEntries(inboxOf(head, deviceId), ids, throughSequence);
      record(change);
      return change;
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
      case 'receiptIssued': {
        const { receipt, receipts, serverMessageId, deviceIds } = event.value;
        if (receipts.length > 0) {
          toEveryDevice({ serverMessageId, content: { $case: 'receipts', value: { receipts } } }, deviceIds);
        } else if (receipt) {
          toEveryDevice({ serverMessageId, content: { $case: 'receipt', value: receipt } }, deviceIds);
        }
        return;
      }
      case 'systemEntryAccepted':
        if (event.value.entry) {
          toEveryDevice(
            {
              serverMessageId: event.value.serverMessageId,
              content: { $case: 'system', value: event.value.entry },
            },
            event.value.deviceIds,
          );
        }
        return;
      case 'inboxAcked': {
        const { deviceId, serverMessageIds, throughSequence } = event.value;
        const { removed } = remove(deviceId, serverMessageIds, throughSequence);
        if (removed.length > 0) {
          this.listener.acked?.({
            accountId,
            deviceId,
            entries: removed,
            ackedAt: event.value.ackedAt ?? metadata.occurredAt,
          });
        }
        return;
      }
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

/** How many documents a checkpoint writes at a time. */
const CHECKPOINT_SLICE = 256;

/** Heads are larger documents (each remembers its last event ids): fewer at a time. */
const HEADS_SLICE = 16;

function* slices<T>(items: readonly T[], size = CHECKPOINT_SLICE): Generator<readonly T[]> {
  for (let start = 0; start < items.length; start += size) yield items.slice(start, start + size);
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** An unstored entry as the store keeps it. */
function recordOf(id: string, { accountId, deviceId, entry, trace }: UnstoredEntry): InboxEntryRecord {
  return {
    _id: id,
    accountId,
    deviceId,
    sequence: entry.sequence,
    entry: Buffer.from(InboxEntry.encode(entry).finish()).toString('base64'),
    traceparent: trace?.traceparent ?? '',
    tracestate: trace?.tracestate ?? '',
  };
}

/** Stored entries, gathered by device. */
function storedByDevice(stored: readonly UnstoredEntry[]): AppendedEntries[] {
  const byDevice = new Map<string, { accountId: string; deviceId: number; entries: InboxEntry[] }>();
  for (const { accountId, deviceId, entry } of stored) {
    const key = `${accountId}:${deviceId}`;
    const known = byDevice.get(key) ?? { accountId, deviceId, entries: [] };
    known.entries.push(entry);
    byDevice.set(key, known);
  }
  return [...byDevice.values()];
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
