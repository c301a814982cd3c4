import { InboxEntry } from '@tandem/contracts/tandem/fanout/v1/inbox';
import type { Document, DocumentCollection } from '@tandem/documents';
import type { DeviceInbox, PendingEntry } from '@tandem/fanout-domain';
import type { TraceContext } from '@tandem/observability';
import type { InboxReader } from './inbox-streams';

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

/** A head as the projection changes it in memory. */
export type LiveHead = { -readonly [K in keyof InboxHeadRecord]: InboxHeadRecord[K] };

/** An entry appended in memory and not yet stored. */
export interface UnstoredEntry {
  readonly accountId: string;
  readonly deviceId: number;
  readonly entry: InboxEntry;
  readonly trace?: TraceContext;
}

/** How many documents a write puts at a time. */
const WRITE_SLICE = 256;

/** Heads are larger documents (each remembers its last event ids): fewer at a time. */
const HEADS_SLICE = 16;

/**
 * Every device's inbox in its two tiers (DESIGN.md, "One message, end to end"): in memory, the
 * heads of the accounts this instance folds and the entries appended since the last checkpoint;
 * in the store, every head and entry as the last checkpoint wrote it. The inbox projection changes
 * them; the streams, acks and the expiry sweep read them here, memory first.
 */
export class InboxTiers implements InboxReader {
  /** The heads of the accounts this instance folds, as applied in memory. */
  private readonly live = new Map<string, LiveHead>();
  /** Entries appended since the last write and still pending, by record id. */
  private readonly unstored = new Map<string, UnstoredEntry>();
  /**
   * The entries the running write is inserting: no longer unstored, maybe not in the store yet, so
   * a stream reading its backlog meanwhile finds them here.
   */
  private storing: ReadonlyMap<string, UnstoredEntry> = new Map();
  /** Stored entries that left their inbox since the last write. */
  private readonly removedStored = new Set<string>();

  constructor(
    private readonly heads: DocumentCollection<InboxHeadRecord>,
    private readonly entries: DocumentCollection<InboxEntryRecord>,
  ) {}

  /** Reads the heads of these accounts into memory, those not there yet, from the store. */
  async load(accountIds: readonly string[]): Promise<void> {
    const missing = accountIds.filter((accountId) => !this.live.has(accountId));
    if (missing.length === 0) return;
    const stored = new Map((await this.heads.getMany(missing)).map((head) => [head._id, head]));
    for (const accountId of missing) {
      if (!this.live.has(accountId)) this.live.set(accountId, copyOf(stored.get(accountId), accountId));
    }
  }

  /** The head of an account in memory, to change it; undefined when it is not loaded. */
  liveHead(accountId: string): LiveHead | undefined {
    return this.live.get(accountId);
  }

  /** Keeps an appended entry in memory until the next write. */
  hold(id: string, unstored: UnstoredEntry): void {
    this.unstored.set(id, unstored);
  }

  /** Entries that left an inbox: never stored if they had not been yet, else deleted at the next write. */
  forget(accountId: string, deviceId: number, removed: readonly PendingEntry[]): void {
    for (const entry of removed) {
      const id = entryRecordId(accountId, deviceId, entry.sequence);
      if (!this.unstored.delete(id)) this.removedStored.add(id);
    }
  }

  /**
   * Drops from memory the heads `keep` refuses, with their unstored entries; returns their account
   * ids. Their last write is what the store keeps of them.
   */
  release(keep: (head: InboxHeadRecord) => boolean): string[] {
    const released: string[] = [];
    for (const [accountId, head] of this.live) {
      if (keep(head)) continue;
      this.live.delete(accountId);
      released.push(accountId);
    }
    for (const [id, unstored] of this.unstored)
      if (!this.live.has(unstored.accountId)) this.unstored.delete(id);
    return released;
  }

  /**
   * Writes to the store, in bulk, the entries held in memory, the deletion of stored entries that
   * left, and the heads of these accounts; returns the entries written. On failure everything is
   * kept for the next write.
   */
  async write(accountIds: readonly string[]): Promise<UnstoredEntry[]> {
    const inserts = [...this.unstored];
    const deletes = [...this.removedStored];
    const heads = accountIds.flatMap((accountId) => {
      const head = this.live.get(accountId);
      return head ? [{ ...head }] : [];
    });
    this.unstored.clear();
    this.storing = new Map(inserts);
    this.removedStored.clear();
    try {
      // In slices, so that a large write does not hold the event loop (and the pushes) up.
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
      throw error;
    } finally {
      this.storing = new Map();
    }
    return inserts.map(([, unstored]) => unstored);
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
}

function* slices<T>(items: readonly T[], size = WRITE_SLICE): Generator<readonly T[]> {
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

function copyOf(stored: InboxHeadRecord | undefined, accountId: string): LiveHead {
  return stored
    ? { ...stored, recent: stored.recent ?? [] }
    : { _id: accountId, accountId, partition: -1, offset: '-1', inboxes: [], closed: [], recent: [] };
}
