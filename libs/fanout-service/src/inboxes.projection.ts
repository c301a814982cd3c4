import type { Span } from '@opentelemetry/api';
import type { InboxEntry } from '@tandem/contracts/tandem/fanout/v1/inbox';
import { type EventMetadata, fromRecord, startEventSpan } from '@tandem/event-sourcing';
import {
  type DeviceInbox,
  type FanoutDomainEvent,
  foldInboxEvent,
  type InboxChange,
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
import { batchFeed, defineProjection } from '@tandem/runtime';
import { fanoutEventCodec } from './fanout.codecs';
import { FanoutLog } from './fanout-log';
import { inboxOwnerWorker } from './inbox-owner';
import { entryRecordId, InboxTiers, type LiveHead, type UnstoredEntry } from './inbox-tiers';

/** How many applied event ids a head remembers. */
const RECENT_EVENTS = 256;

/** Entries appended to one device's inbox by a batch, for the device's open stream. */
export interface AppendedEntries {
  readonly accountId: string;
  readonly deviceId: number;
  readonly entries: readonly InboxEntry[];
  /** The trace context of the span that appended each entry, by index. */
  readonly traces?: readonly (TraceContext | undefined)[];
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

/**
 * Who the projection tells what it did to the inboxes: the streams and the other instances (entries
 * appended, entries stored) and the delivery receipts (entries acked). Implemented by
 * InboxNotifications.
 */
export interface InboxNotifier {
  /** Entries were appended to devices' inboxes (in memory): their streams send them now. */
  entriesAppended(appended: readonly AppendedEntries[]): void;
  /** A checkpoint stored these devices' entries; streams elsewhere may read them from the store. */
  entriesStored(stored: readonly AppendedEntries[]): void;
  /** A device acked entries; they left its inbox. */
  entriesAcked(acked: AckedEntries): void;
}

/** Tells nobody: for a rebuild, which has no streams and issues no receipts. */
export const nobodyToNotify: InboxNotifier = {
  entriesAppended: () => undefined,
  entriesStored: () => undefined,
  entriesAcked: () => undefined,
};

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
 * libs/fanout-domain). The inboxes live in InboxTiers (memory, then the store), where the streams
 * read them; the projection tells an InboxNotifier what it appended, stored and removed by an ack.
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

  /** Acks applied here since they were last taken for the log, by device. */
  private ackedHere = new Map<string, AcksToRecord>();
  /** Accounts whose head changed since the last checkpoint. */
  private readonly dirty = new Set<string>();
  /** The next offset to apply, by partition: what a checkpoint lets the group commit. */
  private readonly positions = new Map<string, CommitPosition>();
  private checkpointing: Promise<unknown> = Promise.resolve();
  /** The partitions this instance folds, once the consumer group said; with `partitions` known. */
  private owned: ReadonlySet<number> | undefined;

  constructor(
    private readonly tiers: InboxTiers,
    private readonly notifier: InboxNotifier = nobodyToNotify,
    private readonly mode: CheckpointMode = 'every-batch',
    /** The topic's partition count, by which an instance knows the accounts it folds. */
    private readonly partitions?: number,
  ) {}

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
    await this.tiers.load(accountIds);
    const effects = new BatchEffects();

    for (const { event, metadata } of events) {
      const accountId = event.value.accountId;
      const head = this.tiers.liveHead(accountId)!;
      if (head.partition === metadata.partition && BigInt(metadata.offset) <= BigInt(head.offset)) continue;
      if (head.recent.includes(metadata.eventId)) continue;
      this.apply(head, event, metadata, effects);
      head.partition = metadata.partition;
      head.offset = metadata.offset;
      head.recent = [...head.recent.slice(-(RECENT_EVENTS - 1)), metadata.eventId];
      this.dirty.add(accountId);
    }
    if (position) this.positions.set(`${batch.topic}:${batch.partition}`, position);

    this.finish(effects.appends);
    if (effects.appended.size > 0) this.notifier.entriesAppended([...effects.appended.values()]);
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
    const accountIds = [...this.dirty];
    const positions = [...this.positions.values()];
    this.dirty.clear();
    let stored: UnstoredEntry[];
    try {
      stored = await this.tiers.write(accountIds);
    } catch (error) {
      for (const accountId of accountIds) this.dirty.add(accountId);
      throw error;
    }
    if (stored.length > 0) this.notifier.entriesStored(storedByDevice(stored));
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
    for (const accountId of this.tiers.release((head) => owned.has(head.partition)))
      this.dirty.delete(accountId);
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
    const head = this.tiers.liveHead(accountId);
    if (!head || !this.folds(accountId)) return undefined;
    const inbox = head.inboxes.find((known) => known.deviceId === deviceId);
    if (!inbox) return [];
    const change = removeEntries(inbox, serverMessageIds, throughSequence);
    if (change.removed.length === 0) return [];
    setInbox(head, change.inbox);
    this.tiers.forget(accountId, deviceId, change.removed);
    this.dirty.add(accountId);
    this.noteAck(ackToRecord({ accountId, deviceId }, change.removed, throughSequence));
    this.notifier.entriesAcked({ accountId, deviceId, entries: change.removed, ackedAt });
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

  /** Whether this instance folds the account's partition. */
  private folds(accountId: string): boolean {
    if (this.partitions === undefined || this.owned === undefined) return false;
    return this.owned.has(partitionForKey(accountId, this.partitions));
  }

  /** Ends the appends' spans once their entries are in their inboxes, and measures them. */
  private finish(appends: readonly Append[]): void {
    for (const { span, metadata, depth } of appends) {
      this.latency.record(secondsSince(metadata.occurredAt), { 'tandem.event.type': metadata.type });
      this.depth.record(depth);
      span?.end();
    }
  }

  /** Folds one event into the account's inboxes (libs/fanout-domain) and keeps what it changed. */
  private apply(
    head: LiveHead,
    event: FanoutDomainEvent,
    metadata: EventMetadata,
    effects: BatchEffects,
  ): void {
    const accountId = head.accountId;
    const folded = foldInboxEvent(head, event, metadata);
    head.inboxes = folded.account.inboxes;
    head.closed = folded.account.closed;
    for (const change of folded.changes) {
      const trace = effects.record(accountId, change, metadata);
      const { deviceId } = change.inbox;
      for (const entry of change.appended)
        this.tiers.hold(entryRecordId(accountId, deviceId, entry.sequence), {
          accountId,
          deviceId,
          entry,
          trace,
        });
      this.tiers.forget(accountId, deviceId, change.removed);
    }
    for (const { deviceId, entries, ackedAt } of folded.acked)
      this.notifier.entriesAcked({ accountId, deviceId, entries, ackedAt });
  }
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

function setInbox(head: LiveHead, inbox: DeviceInbox): void {
  head.inboxes = [...head.inboxes.filter((known) => known.deviceId !== inbox.deviceId), inbox].sort(
    (a, b) => a.deviceId - b.deviceId,
  );
}

/**
 * What the running service gives the inboxes: the tiers its streams and commands read too, whom to
 * tell, and the topic's partition count.
 */
export interface LiveInboxes {
  readonly tiers: InboxTiers;
  readonly notifier: InboxNotifier;
  readonly partitions: number;
}

/**
 * Every device's inbox, folded from tandem.fanout.events. Live, the owner of each partition keeps
 * them in memory and stores them at checkpoints (`inboxOwnerWorker`); a rebuild stores every batch.
 */
export const inboxes = defineProjection<InboxesProjection, LiveInboxes>({
  name: 'inboxes',
  collections: ['inbox_heads', 'inbox_entries'],
  volatileFields: {
    traceparent: 'the trace context of the span that appended the entry; a replay is another span',
    tracestate: 'likewise',
  },
  feeds: [batchFeed<InboxesProjection>('fanout', 'inboxes')],
  create: (store, live) =>
    live
      ? new InboxesProjection(live.tiers, live.notifier, 'deferred', live.partitions)
      : new InboxesProjection(
          new InboxTiers(store.collection('inbox_heads'), store.collection('inbox_entries')),
        ),
  keeper: (projection, service) =>
    inboxOwnerWorker(service.eventLog, projection, {
      groupId: service.groupId('inboxes'),
      topic: service.topic('fanout').name,
      checkpointIntervalMs: service.config.fanout.checkpointIntervalMs,
      fanoutLog: new FanoutLog(service.eventLog, service.topic('fanout').name),
      logger: service.logger,
    }),
});
