import { createRequire } from 'node:module';

/** kafkajs's per-connection request queue (src/network/requestQueue), as far as the repair reads it. */
interface RequestQueue {
  readonly pending: readonly unknown[];
  readonly throttledUntil: number;
  scheduleCheckPendingRequests(): void;
}

/**
 * Repairs kafkajs 2.2.4's request queue, which every Kafka client of Tandem runs on (services, the
 * relay, the CLI, the tests). After each response it schedules its next check of pending requests
 * at `throttledUntil - Date.now()`, and while no broker throttles it `throttledUntil` is -1: the
 * delay is about minus the epoch, Node (22 and later) prints a TimeoutNegativeWarning and runs the
 * check after 1 ms, and that check schedules the next, so every idle connection polled every
 * millisecond (kafkajs issues #1704 and #1751). With nothing pending and no throttle in effect
 * there is nothing to check: a request that must wait schedules its own check when it is queued,
 * and a response checks the queue as it arrives.
 */
function repairIdlePolling(): void {
  const { prototype } = createRequire(__filename)('kafkajs/src/network/requestQueue') as {
    prototype: RequestQueue;
  };
  const schedule = prototype.scheduleCheckPendingRequests;
  if (typeof schedule !== 'function') return;
  prototype.scheduleCheckPendingRequests = function (this: RequestQueue) {
    if (this.pending.length === 0 && this.throttledUntil <= Date.now()) return;
    schedule.call(this);
  };
}

repairIdlePolling();
