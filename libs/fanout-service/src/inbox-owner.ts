import type { EventLog, Subscription } from '@tandem/messaging';
import type { Logger } from '@tandem/observability';
import { periodicWorker, type Worker } from '@tandem/runtime';
import type { FanoutLog } from './fanout-log';
import type { InboxesProjection } from './inboxes.projection';

export interface InboxOwnerOptions {
  readonly groupId: string;
  readonly topic: string;
  /** How often the inboxes are stored and the log position committed. */
  readonly checkpointIntervalMs: number;
  /** Where the acks applied in memory are recorded before each checkpoint. */
  readonly fanoutLog: FanoutLog;
  readonly logger: Logger;
}

/**
 * The owner of the inboxes of the partitions of tandem.fanout.events that the consumer group gives
 * this instance (Kafka Streams' task, written plainly): it folds each batch into the inboxes in
 * memory, and every interval records the acks it applied in memory in the log (one record per
 * device), checkpoints the inboxes (InboxesProjection.checkpoint) and only then commits the log
 * position the checkpoint covers. A crash loses no more than the records after the last
 * commit, which the next owner folds again from the log.
 */
export function inboxOwnerWorker(
  log: EventLog,
  inboxes: InboxesProjection,
  options: InboxOwnerOptions,
): Worker {
  let subscription: Subscription | undefined;

  const checkpoint = async () => {
    const acks = inboxes.takeAcks();
    try {
      await options.fanoutLog.recordAcks(acks, { correlationId: 'inbox-checkpoint', causationId: '' });
    } catch (error) {
      inboxes.returnAcks(acks);
      throw error;
    }
    const positions = await inboxes.checkpoint();
    await subscription?.commit(positions);
  };
  const reportFailure = (error: unknown) =>
    options.logger.error({ err: error }, 'checkpointing the inboxes failed');
  const checkpoints = periodicWorker(
    'fanout.inbox-checkpoints',
    options.checkpointIntervalMs,
    checkpoint,
    reportFailure,
  );

  return {
    name: 'fanout.inboxes',
    async start() {
      subscription = await log.subscribe({
        groupId: options.groupId,
        topics: [options.topic],
        fromBeginning: true,
        manualCommit: true,
        onAssigned: (partitions) => inboxes.assigned(partitions),
        onBatch: (batch) => inboxes.applyBatch(batch),
      });
      await checkpoints.start();
    },
    async stop() {
      await checkpoints.stop();
      await checkpoint().catch(reportFailure);
      await subscription?.stop();
    },
  };
}
