import type { DynamicModule } from '@nestjs/common';
import { consumeEvents, type EventConsumerOptions, type OutboxRelay } from '@tandem/event-sourcing';
import type { GrpcServiceSpec } from '@tandem/grpc';
import type { EventLog, RecordBatch, Subscription, TopicSpec } from '@tandem/messaging';

/**
 * How often a relay looks for commits it was not woken for (another instance's, or a crashed
 * process's). Appends in this process wake it at once, so this bounds only that recovery delay,
 * while keeping idle polling from reading the event store fifty times a second.
 */
export const RELAY_IDLE_POLL_MS = 500;

/** Background work of a service: its outbox relay and its consumers. */
export interface Worker {
  readonly name: string;
  start(): Promise<void>;
  /** Finishes the work in hand and stops; offsets of finished batches are committed. */
  stop(): Promise<void>;
}

/** One Tandem service built from its definition, ready to run alone or beside the others in one process. */
export interface TandemService {
  readonly name: string;
  readonly grpc: GrpcServiceSpec;
  /** The NestJS module with the service's gRPC controller. */
  readonly module: DynamicModule;
  /** Topics the service publishes to or consumes; created when missing. */
  readonly topics: readonly TopicSpec[];
  readonly workers: readonly Worker[];
  /** Creates indexes and the like before any worker runs. */
  readonly setUp?: () => Promise<void>;
  /**
   * Ends the service's open server streams, on shutdown, with UNAVAILABLE: clients open them
   * again, on another instance or after the restart. Resolves when they have ended.
   */
  readonly endStreams?: () => Promise<void>;
}

export function relayWorker(name: string, relay: OutboxRelay): Worker {
  return {
    name,
    start: async () => relay.start(),
    stop: () => relay.stop(),
  };
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
 * A consumer that takes each partition's records a batch at a time, for projections that write a
 * batch's effect in bulk; offsets are committed after `onBatch` resolves.
 */
export function batchConsumerWorker(
  name: string,
  log: EventLog,
  options: {
    readonly groupId: string;
    readonly topic: string;
    readonly onBatch: (batch: RecordBatch) => Promise<void>;
  },
): Worker {
  let subscription: Subscription | undefined;
  return {
    name,
    async start() {
      subscription = await log.subscribe({
        groupId: options.groupId,
        topics: [options.topic],
        fromBeginning: true,
        onBatch: options.onBatch,
      });
    },
    async stop() {
      await subscription?.stop();
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
