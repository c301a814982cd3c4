import { backoffDelay, type ErrorReporter, type RetryBackoff } from './error-reporting';
import type { CommitPosition, RecordBatch, SubscribeOptions, Subscription } from './event-log.port';
import {
  type GroupMember,
  type GroupState,
  type LogFile,
  partitionId,
  type RecordRow,
  toIncomingRecord,
} from './event-log-file.embedded';

export interface SubscriptionSettings {
  readonly maxBatchSize: number;
  readonly retryBackoff: RetryBackoff;
  readonly onError: ErrorReporter;
  readonly onStopped: () => void;
}

/** One member of a consumer group: handles its assigned partitions one batch at a time, in turn. */
export class EmbeddedSubscription implements Subscription, GroupMember {
  assigned: { readonly topic: string; readonly partition: number }[] = [];
  readonly topics: readonly string[];
  private readonly failures = new Map<string, number>();
  private readonly retryAt = new Map<string, number>();
  private running = false;
  private loop: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private readonly stopSignal = new AbortController();
  private interruptWait: (() => void) | undefined;
  private cursor = 0;
  /** With manual commits: the next offset to fetch by partition, ahead of the committed one. */
  private readonly fetched = new Map<string, number>();

  constructor(
    private readonly file: LogFile,
    private readonly group: GroupState,
    private readonly options: SubscribeOptions,
    private readonly settings: SubscriptionSettings,
  ) {
    this.topics = [...options.topics];
  }

  start(): void {
    this.running = true;
    this.loop = this.run();
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.running = false;
      this.stopSignal.abort();
      this.interruptWait?.();
      await this.loop;
      this.file.writeOffsets();
      this.group.members.splice(this.group.members.indexOf(this), 1);
      this.settings.onStopped();
      if (this.group.members.length > 0) this.file.rebalance(this.group);
    })();
    return this.stopping;
  }

  private async run(): Promise<void> {
    while (this.running) {
      const seen = this.file.signal.current;
      const next = this.nextBatch();
      if ('batch' in next) await this.handle(next.batch);
      else await this.waitForChange(seen, next.retryInMs);
    }
  }

  /** The next assigned partition with records to handle, starting after the last one served. */
  private nextBatch(): { batch: RecordBatch } | { retryInMs: number | undefined } {
    let retryInMs: number | undefined;
    const now = Date.now();
    for (let step = 0; step < this.assigned.length; step++) {
      const index = (this.cursor + step) % this.assigned.length;
      const { topic, partition } = this.assigned[index]!;
      const id = partitionId(topic, partition);
      if (this.group.busy.has(id)) continue;
      const from = this.fetched.get(id) ?? this.file.committedOffset(this.group, topic, partition) ?? 0;
      if (from >= this.file.readableEnd(topic, partition)) continue;
      const retryAt = this.retryAt.get(id) ?? 0;
      if (retryAt > now) {
        retryInMs = Math.min(retryInMs ?? Infinity, retryAt - now);
        continue;
      }
      this.cursor = index + 1;
      const recent = this.file.recentRecords(topic, partition, from, this.settings.maxBatchSize);
      if (recent) return { batch: { topic, partition, records: recent } };
      const rows = this.file
        .statement(
          `SELECT partition_no, offset_no, key, value, headers, timestamp FROM records
           WHERE topic = ? AND partition_no = ? AND offset_no >= ? ORDER BY offset_no LIMIT ?`,
        )
        .all(topic, partition, from, this.settings.maxBatchSize) as unknown as RecordRow[];
      return { batch: { topic, partition, records: rows.map((row) => toIncomingRecord(topic, row)) } };
    }
    return { retryInMs };
  }

  private async handle(batch: RecordBatch): Promise<void> {
    const id = partitionId(batch.topic, batch.partition);
    this.group.busy.add(id);
    try {
      await this.options.onBatch(batch, this.stopSignal.signal);
      const last = batch.records[batch.records.length - 1]!;
      if (this.options.manualCommit) this.fetched.set(id, Number(last.offset) + 1);
      else this.file.commitOffset(this.group, batch.topic, batch.partition, Number(last.offset) + 1);
      this.failures.delete(id);
      this.retryAt.delete(id);
    } catch (error) {
      if (this.stopSignal.signal.aborted) return;
      const failures = (this.failures.get(id) ?? 0) + 1;
      const delayMs = backoffDelay(this.settings.retryBackoff, failures);
      this.failures.set(id, failures);
      this.retryAt.set(id, Date.now() + delayMs);
      this.settings.onError('event log batch handler failed; the batch will be delivered again', error, {
        groupId: this.group.id,
        topic: batch.topic,
        partition: batch.partition,
        firstOffset: batch.records[0]!.offset,
        failures,
        delayMs,
      });
    } finally {
      this.group.busy.delete(id);
      this.file.signal.notify();
    }
  }

  async commit(positions: readonly CommitPosition[]): Promise<void> {
    for (const { topic, partition, nextOffset } of positions) {
      if (!this.assigned.some((owned) => owned.topic === topic && owned.partition === partition)) continue;
      this.file.commitOffset(this.group, topic, partition, Number(nextOffset));
    }
  }

  /** The group gave this member its partitions anew: fetching resumes at the committed offsets. */
  assign(partitions: { readonly topic: string; readonly partition: number }[]): void {
    this.assigned = partitions;
    this.fetched.clear();
    this.options.onAssigned?.(partitions);
  }

  private waitForChange(seen: number, timeoutMs: number | undefined): Promise<void> {
    if (!this.running || this.file.signal.current !== seen) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.file.signal.remove(done);
        this.interruptWait = undefined;
        resolve();
      };
      const timer = timeoutMs === undefined ? undefined : setTimeout(done, timeoutMs);
      this.file.signal.add(done);
      this.interruptWait = done;
    });
  }
}
