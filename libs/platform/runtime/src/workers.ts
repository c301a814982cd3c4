import { consumeEvents, type EventConsumerOptions } from '@tandem/event-sourcing';
import type { EventLog, Subscription } from '@tandem/messaging';

/** Background work of a service: its outbox relay, its consumers and its jobs. */
export interface Worker {
  readonly name: string;
  start(): Promise<void>;
  /** Finishes the work in hand and stops; offsets of finished batches are committed. */
  stop(): Promise<void>;
}

export function consumerWorker<E>(name: string, log: EventLog, options: EventConsumerOptions<E>): Worker {
  let subscription: Subscription | undefined;
  return {
    name,
    async start() {
      subscription = await consumeEvents(log, options);
    },
    async stop() {
      await subscription?.stop();
      subscription = undefined;
    },
  };
}

/**
 * Runs `task` every `intervalMs` (a scheduled job such as a sweeper), one run at a time; a failed
 * run is reported and the next one comes at its time.
 */
export function periodicWorker(
  name: string,
  intervalMs: number,
  task: () => Promise<void>,
  onError: (error: unknown) => void,
): Worker {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  let stopped = true;
  const schedule = () => {
    timer = setTimeout(() => {
      running = task()
        .catch(onError)
        .finally(() => {
          if (!stopped) schedule();
        });
    }, intervalMs);
  };
  return {
    name,
    async start() {
      stopped = false;
      schedule();
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
