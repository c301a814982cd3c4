import { tandemMeter } from '@tandem/observability';
import type { Consumer, EachBatchPayload } from 'kafkajs';
import { backoffDelay, type ErrorReporter, type RetryBackoff } from './error-reporting';
import type { CommitPosition, RecordBatch, SubscribeOptions, Subscription } from './event-log.port';
import { incomingRecordOf } from './kafka-record';

export interface SubscriptionSettings {
  readonly heartbeatIntervalMs: number;
  readonly retryBackoff: RetryBackoff;
  readonly onError: ErrorReporter;
  readonly onStopped: () => void;
}

/** One kafkajs consumer; a failed batch is sought back to its first offset and its partition paused. */
export class KafkaSubscription implements Subscription {
  private readonly failures = new Map<string, number>();
  private readonly resumeTimers = new Set<NodeJS.Timeout>();
  private stopping: Promise<void> | undefined;
  private readonly stopSignal = new AbortController();
  private readonly lag = tandemMeter().createGauge('tandem.consumer.lag', {
    unit: '{record}',
    description:
      "Records of a partition after the last one its consumer group handled (the high watermark's distance)",
  });

  constructor(
    private readonly consumer: Consumer,
    private readonly options: SubscribeOptions,
    private readonly settings: SubscriptionSettings,
  ) {}

  async handle(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    if (batch.isEmpty() || !payload.isRunning() || payload.isStale()) return;
    const recordBatch: RecordBatch = {
      topic: batch.topic,
      partition: batch.partition,
      records: batch.messages.map((message) => incomingRecordOf(batch.topic, batch.partition, message)),
    };
    const partitionKey = `${batch.topic}:${batch.partition}`;
    try {
      await this.withHeartbeats(payload, () => this.options.onBatch(recordBatch, this.stopSignal.signal));
    } catch (error) {
      if (this.stopSignal.signal.aborted) return;
      const failures = (this.failures.get(partitionKey) ?? 0) + 1;
      this.failures.set(partitionKey, failures);
      const delayMs = backoffDelay(this.settings.retryBackoff, failures);
      this.settings.onError('event log batch handler failed; the batch will be delivered again', error, {
        groupId: this.options.groupId,
        topic: batch.topic,
        partition: batch.partition,
        firstOffset: batch.firstOffset(),
        failures,
        delayMs,
      });
      this.consumer.seek({ topic: batch.topic, partition: batch.partition, offset: batch.firstOffset()! });
      this.pauseFor(payload, delayMs);
      return;
    }
    this.failures.delete(partitionKey);
    this.lag.record(Number(batch.offsetLag()), {
      'messaging.consumer.group.name': this.options.groupId,
      'messaging.destination.name': batch.topic,
      'messaging.destination.partition.id': String(batch.partition),
    });
    const lastOffset = batch.lastOffset();
    payload.resolveOffset(lastOffset);
    if (this.options.manualCommit) return;
    await payload.commitOffsetsIfNecessary({
      topics: [
        {
          topic: batch.topic,
          partitions: [{ partition: batch.partition, offset: (BigInt(lastOffset) + 1n).toString() }],
        },
      ],
    });
  }

  async commit(positions: readonly CommitPosition[]): Promise<void> {
    if (positions.length === 0) return;
    await this.consumer.commitOffsets(
      positions.map(({ topic, partition, nextOffset }) => ({ topic, partition, offset: nextOffset })),
    );
  }

  /**
   * Stops fetching, lets the batch in hand finish and commit (or be given up, uncommitted), then
   * leaves the group.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.stopSignal.abort();
      for (const timer of this.resumeTimers) clearTimeout(timer);
      this.resumeTimers.clear();
      try {
        await this.consumer.disconnect();
      } finally {
        this.settings.onStopped();
      }
    })();
    return this.stopping;
  }

  private async withHeartbeats(payload: EachBatchPayload, work: () => Promise<void>): Promise<void> {
    const timer = setInterval(() => {
      payload.heartbeat().catch(() => undefined);
    }, this.settings.heartbeatIntervalMs);
    try {
      await work();
    } finally {
      clearInterval(timer);
    }
  }

  private pauseFor(payload: EachBatchPayload, delayMs: number): void {
    const resume = payload.pause();
    const timer = setTimeout(() => {
      this.resumeTimers.delete(timer);
      resume();
    }, delayMs);
    this.resumeTimers.add(timer);
  }
}
