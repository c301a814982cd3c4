import type { EventLog, Subscription } from '@tandem/messaging';
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
   * offset come again. Throwing stops the batch; it is delivered again, from that event on.
   */
  readonly handle: (received: ReceivedEvent<E>) => Promise<void>;
}

/**
 * Subscribes to a service topic and hands each event, decoded, to `handle` in log order, each in
 * a span `process <event type>` that continues the event's trace (commands `handle` runs with
 * `causedBy(metadata)` are its children). Events of another payload type on the topic are passed over.
 * Stopping gives up the rest of the batch in hand, uncommitted: the events after the one being
 * handled come again to whoever consumes the partition next.
 */
export function consumeEvents<E>(log: EventLog, options: EventConsumerOptions<E>): Promise<Subscription> {
  return log.subscribe({
    groupId: options.groupId,
    topics: [options.topic],
    fromBeginning: options.fromBeginning ?? true,
    onBatch: async (batch, stopping) => {
      for (const record of batch.records) {
        stopping.throwIfAborted();
        const { metadata, payload } = fromRecord(record);
        if (metadata.payloadType !== options.codec.payloadType) continue;
        await inEventSpan(
          `process ${metadata.type}`,
          metadata,
          { 'messaging.consumer.group.name': options.groupId },
          () => options.handle({ event: options.codec.decode(payload), metadata }),
        );
      }
    },
  });
}
