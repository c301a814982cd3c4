import { context } from '@opentelemetry/api';
import { suppressTracing } from '@opentelemetry/core';
import {
  backoffDelay,
  type ErrorReporter,
  type EventLog,
  type OutgoingRecord,
  reportToStderr,
  type RetryBackoff,
} from '@tandem/messaging';
import { LATENCY_BUCKETS_SECONDS, secondsSince, tandemMeter } from '@tandem/observability';
import type { EventStore, PendingCommit, StoredEvent } from './event-store.port';

export interface OutboxRelayOptions {
  readonly store: EventStore;
  readonly log: EventLog;
  /** The one topic the store's events go to, e.g. `tandem.linking.events`. */
  readonly topic: string;
  /** Turns a stored event into a record; its key must be `event.partitionKey`. */
  readonly encode: (event: StoredEvent) => OutgoingRecord;
  /** Commits read and published per round; defaults to 500. */
  readonly batchSize?: number;
  /** Pause between polls that found less than a full batch; defaults to 20 ms. `wake()` cuts it short. */
  readonly idleIntervalMs?: number;
  /** Backoff after a failed round: doubles from `initialMs` up to `maxMs`; defaults to 100 ms .. 5 s. */
  readonly retryBackoff?: RetryBackoff;
  /** Where failed rounds are reported; the relay retries them and never throws. */
  readonly onError?: ErrorReporter;
}

/**
 * Publishes the store's unpublished commits to the event log, oldest first, and marks them published
 * only after the log acknowledged them. A crash or error between the two publishes them again:
 * delivery is at least once and never skips, and each stream's events reach the log in version order.
 * Run one relay per store; two would interleave duplicates.
 */
export class OutboxRelay {
  private readonly batchSize: number;
  private readonly idleIntervalMs: number;
  private readonly retryBackoff: RetryBackoff;
  private readonly onError: ErrorReporter;
  private running = false;
  private loop: Promise<void> | undefined;
  private wakeRequested = false;
  private interruptSleep: ((reason: 'wake' | 'stop') => void) | undefined;
  private readonly lag = tandemMeter().createHistogram('tandem.relay.lag', {
    unit: 's',
    description: 'Time from a commit to the event store until the event log acknowledged it',
    advice: { explicitBucketBoundaries: LATENCY_BUCKETS_SECONDS },
  });

  constructor(private readonly options: OutboxRelayOptions) {
    this.batchSize = options.batchSize ?? 500;
    this.idleIntervalMs = options.idleIntervalMs ?? 20;
    this.retryBackoff = options.retryBackoff ?? { initialMs: 100, maxMs: 5_000 };
    this.onError = options.onError ?? reportToStderr;
  }

  start(): void {
    if (this.loop) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Stops polling; resolves once the round in hand is published and marked (or has failed). */
  async stop(): Promise<void> {
    this.running = false;
    this.interruptSleep?.('stop');
    await this.loop;
    this.loop = undefined;
  }

  /** Polls again now instead of after the idle interval; call it after an append. */
  wake(): void {
    this.wakeRequested = true;
    this.interruptSleep?.('wake');
  }

  /**
   * After a failed round the next one takes half as many commits (down to one), so a batch the log
   * refuses as too large is split up instead of retried whole forever; a success restores the size.
   */
  private async run(): Promise<void> {
    let failures = 0;
    let roundSize = this.batchSize;
    while (this.running) {
      const limit = roundSize;
      let relayed: number;
      try {
        relayed = await this.relayRound(limit);
        failures = 0;
        roundSize = this.batchSize;
      } catch (error) {
        failures += 1;
        roundSize = Math.max(1, Math.ceil(roundSize / 2));
        const delayMs = backoffDelay(this.retryBackoff, failures);
        this.onError('outbox relay round failed; retrying', error, {
          topic: this.options.topic,
          failures,
          delayMs,
          nextRoundSize: roundSize,
        });
        await this.sleep(delayMs, false);
        continue;
      }
      if (relayed < limit) await this.sleep(this.idleIntervalMs, true);
    }
  }

  private async relayRound(limit: number): Promise<number> {
    const commits: PendingCommit[] = await this.options.store.readUnpublished(limit);
    if (commits.length === 0) return 0;
    const records = commits.flatMap((commit) => commit.events.map((event) => this.options.encode(event)));
    // Each record's traceparent header is that of the request that appended it; the kafkajs
    // instrumentation would replace it with a producer span of a trace of its own.
    await context.with(suppressTracing(context.active()), () =>
      this.options.log.publish(this.options.topic, records),
    );
    for (const commit of commits)
      this.lag.record(secondsSince(commit.committedAt), { 'messaging.destination.name': this.options.topic });
    await this.options.store.markPublished(commits.map((commit) => commit.commitId));
    return commits.length;
  }

  private sleep(ms: number, wakeable: boolean): Promise<void> {
    if (!this.running) return Promise.resolve();
    if (wakeable && this.wakeRequested) {
      this.wakeRequested = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.interruptSleep = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.interruptSleep = (reason) => {
        if (reason === 'stop' || wakeable) {
          this.wakeRequested = false;
          done();
        }
      };
    });
  }
}
