import type { SendResponse } from '@tandem/contracts/tandem/fanout/v1/fanout_service';
import type { Document, DocumentCollection } from '@tandem/documents';
import { LRUCache } from 'lru-cache';

/** The first answer to a device's Send, by the device and its client message id. */
export interface AcceptedSendRecord extends Document {
  readonly serverMessageId: string;
  /** Milliseconds since the epoch. */
  readonly serverTimestamp: number;
  /**
   * Whether the log has the message: false from when the answer is kept until the append is
   * done, so a retry after a crash in between knows to append it again.
   */
  readonly appended: boolean;
}

interface Waiter {
  readonly resolve: (record: AcceptedSendRecord | undefined) => void;
  readonly reject: (error: unknown) => void;
}

/** How long an answer waits for others to be stored with it. */
const STORE_AFTER_MS = 1;

/** How many accepted Sends an instance keeps in memory besides the store. */
const REMEMBERED = 200_000;

export const acceptedResponse = (record: AcceptedSendRecord, duplicate: boolean): SendResponse => ({
  serverMessageId: record.serverMessageId,
  serverTimestamp: new Date(record.serverTimestamp),
  duplicate,
});

/**
 * What every accepted Send answered, so that a retry (also after a restart, or on another
 * instance) gets the first answer: one document per Send, inserted in bulk with the other Sends of
 * the same moment, and the newest in memory. The answer is kept before the message is appended to
 * the log, so a retry after a crash between the two appends it again with the same id and time.
 */
export class AcceptedSends {
  private readonly recent = new LRUCache<string, AcceptedSendRecord>({ max: REMEMBERED });
  private queued: { record: AcceptedSendRecord; done: (error?: unknown) => void }[] = [];
  private lookups = new Map<string, Waiter[]>();
  private marks: AcceptedSendRecord[] = [];

  constructor(private readonly sends: DocumentCollection<AcceptedSendRecord>) {}

  /**
   * What this Send was first answered, if it was accepted before; `stored` when only the store knew
   * it (this process did not accept it, or has restarted since).
   */
  async recall(
    id: string,
  ): Promise<{ readonly record: AcceptedSendRecord; readonly stored: boolean } | undefined> {
    const recent = this.recent.get(id);
    if (recent) return { record: recent, stored: false };
    const record = await this.lookUp(id);
    return record ? { record, stored: true } : undefined;
  }

  /** Reads the stored answer; the look-ups of a moment go to the store together. */
  private lookUp(id: string): Promise<AcceptedSendRecord | undefined> {
    return new Promise((resolve, reject) => {
      const waiting = this.lookups.get(id);
      if (waiting) waiting.push({ resolve, reject });
      else this.lookups.set(id, [{ resolve, reject }]);
      if (this.lookups.size === 1 && !waiting) setImmediate(() => void this.readLookups());
    });
  }

  private async readLookups(): Promise<void> {
    const lookups = this.lookups;
    this.lookups = new Map();
    try {
      const found = new Map(
        (await this.sends.getMany([...lookups.keys()])).map((record) => [record._id, record]),
      );
      for (const [id, waiters] of lookups) for (const { resolve } of waiters) resolve(found.get(id));
    } catch (error) {
      for (const waiters of lookups.values()) for (const { reject } of waiters) reject(error);
    }
  }

  /**
   * Keeps the answer, unless the same Send was answered a moment before (then that answer stands);
   * resolves with the answer that stands once it is stored.
   */
  async remember(id: string, serverMessageId: string, serverTimestamp: Date): Promise<AcceptedSendRecord> {
    const earlier = this.recent.get(id);
    if (earlier) return earlier;
    const record = { _id: id, serverMessageId, serverTimestamp: serverTimestamp.getTime(), appended: false };
    this.recent.set(id, record);
    await new Promise<void>((resolve, reject) => {
      this.queued.push({ record, done: (error) => (error ? reject(error) : resolve()) });
      if (this.queued.length === 1) setTimeout(() => void this.store(), STORE_AFTER_MS);
    });
    return record;
  }

  /**
   * Marks the answer's message as appended to the log, in bulk with others of the moment; a mark
   * lost to a crash only makes a retry append the message again, which the inbox projection
   * recognises.
   */
  appended(record: AcceptedSendRecord): void {
    const marked = { ...record, appended: true };
    if (this.recent.get(record._id) === record) this.recent.set(record._id, marked);
    this.marks.push(marked);
    if (this.marks.length === 1) setTimeout(() => void this.storeMarks(), STORE_AFTER_MS);
  }

  private async store(): Promise<void> {
    const queued = this.queued;
    this.queued = [];
    try {
      await this.sends.insertNew(queued.map(({ record }) => record));
      for (const { done } of queued) done();
    } catch (error) {
      for (const { done } of queued) done(error);
    }
  }

  private async storeMarks(): Promise<void> {
    const marks = this.marks;
    this.marks = [];
    await this.sends.putMany(marks).catch(() => undefined);
  }
}
