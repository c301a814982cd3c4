import type { EventLog, IncomingRecord, Subscription } from '@tandem/messaging';
import type { EventCodec } from './event-codec';
import { fromRecord, type ReceivedEvent } from './envelope';
import { inEventSpan } from './event-tracing';

export interface EventConsumerOptions<E> {
  /** The consumer group; one per projection or process manager, e.g. `accounts.read-model`. */
  readonly groupId: string;
  readonly topic: string;
  readonly codec: EventCodec<E>;
  /**
   * Where a group without committed offsets starts: the beginning (default, for projections) or
   * the end (for a process's own group that only reacts to what happens from now on).
   */
  readonly fromBeginning?: boolean;
  /**
   * Applies one event. It must be idempotent: after a crash, events since the last committed
   * offset come again. Throwing fails the batch once every key's events in hand are applied or
   * failed; it is delivered again. Events of different keys (accounts) may be applied at once.
   */
  readonly handle: (received: ReceivedEvent<E>) => Promise<void>;
}

/** Keys of a batch applied at once, at most: each a chain of round trips to the stores. */
const KEYS_AT_ONCE = 32;

/**
 * Subscribes to a service topic and hands each event, decoded, to `handle`: each key's (account's)
 * events in log order, up to 32 keys at once, each in a span `process <event type>` that continues
 * the event's trace (commands `handle` runs with `causedBy(metadata)` are its children). Events of
 * another payload type on the topic are passed over. Stopping gives up what is left of the batch in
 * hand, uncommitted: the events not yet applied come again to whoever consumes the partition next.
 */
export function consumeEvents<E>(log: EventLog, options: EventConsumerOptions<E>): Promise<Subscription> {
  const apply = async (record: IncomingRecord): Promise<void> => {
    const { metadata, payload } = fromRecord(record);
    if (metadata.payloadType !== options.codec.payloadType) return;
    await inEventSpan(
      `process ${metadata.type}`,
      metadata,
      { 'messaging.consumer.group.name': options.groupId },
      () => options.handle({ event: options.codec.decode(payload), metadata }),
    );
  };
  return log.subscribe({
    groupId: options.groupId,
    topics: [options.topic],
    fromBeginning: options.fromBeginning ?? true,
    onBatch: async (batch, stopping) => {
      const byKey = new Map<string, IncomingRecord[]>();
      for (const record of batch.records) {
        const chain = byKey.get(record.key);
        if (chain) chain.push(record);
        else byKey.set(record.key, [record]);
      }
      const chains = [...byKey.values()];
      const failures: unknown[] = [];
      const worker = async (): Promise<void> => {
        for (let chain = chains.shift(); chain; chain = chains.shift()) {
          try {
            for (const record of chain) {
              stopping.throwIfAborted();
              await apply(record);
            }
          } catch (error) {
            failures.push(error);
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(KEYS_AT_ONCE, chains.length) }, worker));
      if (failures.length > 0) throw failures[0];
    },
  });
}
