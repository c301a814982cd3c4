import type { SendResponse } from '@tandem/contracts/grpc/tandem/fanout/v1/fanout_service';
import type { Document, DocumentCollection } from '@tandem/documents';
import { LRUCache } from 'lru-cache';

/** The first answer to a device's Send, by the device and its client message id. */
export interface AcceptedSendRecord extends Document {
  readonly serverMessageId: string;
  /** Milliseconds since the epoch. */
  readonly serverTimestamp: number;
}

interface Waiter {
  readonly resolve: (record: AcceptedSendRecord | undefined) => void;
  readonly reject: (error: unknown) => void;
}

/** How many accepted Sends an instance keeps in memory besides the store. */
const REMEMBERED = 200_000;

const toResponse = (record: AcceptedSendRecord): SendResponse => ({
  serverMessageId: record.serverMessageId,
  serverTimestamp: {
    seconds: Math.floor(record.serverTimestamp / 1000),
    nanos: (record.serverTimestamp % 1000) * 1_000_000,
  },
  duplicate: true,
});

/**
 * What every accepted Send answered, so that a retry (also after a restart, or on another
 * instance) gets the first answer: one document per Send, inserted in bulk with the other Sends of
 * the same moment, and the newest in memory.
 */
export class AcceptedSends {
  private readonly recent = new LRUCache<string, AcceptedSendRecord>({ max: REMEMBERED });
  private queued: { record: AcceptedSendRecord; done: (error?: unknown) => void }[] = [];
  private lookups = new Map<string, Waiter[]>();

  constructor(private readonly sends: DocumentCollection<AcceptedSendRecord>) {}

  /** The first answer to this Send, marked a duplicate, if it was accepted before. */
  async recall(id: string): Promise<SendResponse | undefined> {
    const record = this.recent.get(id) ?? (await this.lookUp(id));
    return record ? toResponse(record) : undefined;
  }

  /** Reads the stored answer; the look-ups of one moment go to the store together. */
  private lookUp(id: string): Promise<AcceptedSendRecord | undefined> {
    return new Promise((resolve, reject) => {
      const waiting = this.lookups.get(id);
      if (waiting) {
        waiting.push({ resolve, reject });
        return;
      }
      this.lookups.set(id, [{ resolve, reject }]);
      if (this.lookups.size > 1) return;
      setImmediate(() => {
        const lookups = this.lookups;
        this.lookups = new Map();
        this.sends.getMany([...lookups.keys()]).then(
          (records) => {
            const found = new Map(records.map((record) => [record._id, record]));
            for (const [key, waiters] of lookups)
              for (const waiter of waiters) waiter.resolve(found.get(key));
          },
          (error: unknown) => {
            for (const waiters of lookups.values()) for (const waiter of waiters) waiter.reject(error);
          },
        );
      });
    });
  }

  /** Keeps the answer; resolves once it is stored. */
  remember(id: string, serverMessageId: string, serverTimestamp: Date): Promise<void> {
    const record = { _id: id, serverMessageId, serverTimestamp: serverTimestamp.getTime() };
    this.recent.set(id, record);
    return new Promise((resolve, reject) => {
      this.queued.push({ record, done: (error) => (error ? reject(error) : resolve()) });
      if (this.queued.length === 1) setImmediate(() => void this.store());
    });
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
}
