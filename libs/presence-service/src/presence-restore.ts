import { RestoreMarker } from '@tandem/contracts/tandem/presence/v1/events';
import { fromRecord } from '@tandem/event-sourcing';
import { type EventLog, partitionForKey, type Subscription, type TopicSpec } from '@tandem/messaging';
import type { Logger } from '@tandem/observability';
import type { Worker } from '@tandem/runtime';
import { envelopedRecord, presenceEventCodec, RESTORE_MARKER_TYPE } from './presence.codecs';
import type { PresenceBook } from './presence-book';

/** A key that lands in `partition`: one fixed key per partition, so compaction keeps one marker each. */
export function markerKey(partition: number, partitions: number): string {
  for (let attempt = 0; ; attempt++) {
    const key = `presence-restore-marker:${partition}:${attempt}`;
    if (partitionForKey(key, partitions) === partition) return key;
  }
}

/** How long restoring from the compacted topic may take before the start fails. */
export const RESTORE_TIMEOUT_MS = 120_000;

export interface RestoreOptions {
  readonly log: EventLog;
  readonly topic: TopicSpec;
  /** A consumer group of this start alone. */
  readonly groupId: string;
  readonly instanceId: string;
  readonly book: PresenceBook;
  readonly logger: Logger;
  readonly clock: () => Date;
  /** How long the restore may take before the start fails. */
  readonly timeoutMs: number;
}

/**
 * Restores every account's presence from the compacted topic before the service consumes or
 * serves anything: it writes a RestoreMarker to each partition, reads the topic from the
 * beginning with a consumer group of its own, and is done when it has met its marker in every
 * partition, so it has read every record written before it started. Its start resolves only then.
 */
export function restoreWorker(options: RestoreOptions): Worker {
  const { log, topic, book, logger } = options;
  let subscription: Subscription | undefined;
  return {
    name: 'presence.restore',
    async start() {
      const started = Date.now();
      const partitions = topic.partitions;
      await log.publish(
        topic.name,
        Array.from({ length: partitions }, (_, partition) =>
          envelopedRecord(
            RESTORE_MARKER_TYPE,
            'RestoreMarker',
            markerKey(partition, partitions),
            RestoreMarker.encode({ instanceId: options.instanceId, partition }).finish(),
            { aggregateId: options.instanceId, version: partition + 1, occurredAt: options.clock() },
          ),
        ),
      );
      const met = new Set<number>();
      let records = 0;
      let caughtUp!: () => void;
      const restored = new Promise<void>((done) => (caughtUp = done));
      const subscribed = await log.subscribe({
        groupId: options.groupId,
        topics: [topic.name],
        fromBeginning: true,
        onBatch: async (batch) => {
          for (const record of batch.records) {
            const { metadata, payload } = fromRecord(record);
            if (metadata.payloadType === RESTORE_MARKER_TYPE) {
              const marker = RestoreMarker.decode(payload);
              if (marker.instanceId === options.instanceId) met.add(marker.partition);
            } else if (metadata.payloadType === presenceEventCodec.payloadType) {
              const event = presenceEventCodec.decode(payload);
              if (event.$case !== 'presenceChanged') continue;
              book.restore(event.value, metadata.aggregateVersion);
              records++;
            }
          }
          if (met.size === partitions) caughtUp();
        },
      });
      subscription = subscribed;
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<never>((_, fail) => {
        timer = setTimeout(
          () => fail(new Error(`restoring presence took over ${options.timeoutMs} ms`)),
          options.timeoutMs,
        );
      });
      try {
        await Promise.race([restored, timedOut]);
      } finally {
        clearTimeout(timer);
        await subscribed.stop();
        subscription = undefined;
      }
      logger.info(
        { records, ...book.size, elapsedMs: Date.now() - started },
        'restored presence from the compacted topic',
      );
    },
    async stop() {
      await subscription?.stop();
    },
  };
}
