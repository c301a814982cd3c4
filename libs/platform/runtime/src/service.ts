import type { DynamicModule } from '@nestjs/common';
import { consumeEvents, type EventConsumerOptions, type OutboxRelay } from '@tandem/event-sourcing';
import type { GrpcServiceSpec } from '@tandem/grpc';
import type { EventLog, Subscription, TopicSpec } from '@tandem/messaging';
import type { Infrastructure } from './infrastructure';

/** Background work of a service: its outbox relay and its consumers. */
export interface Worker {
  readonly name: string;
  start(): Promise<void>;
  /** Finishes the work in hand and stops; offsets of finished batches are committed. */
  stop(): Promise<void>;
}

/** One Tandem service, ready to run alone or beside the others in one process. */
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
}

export type ServiceFactory = (infrastructure: Infrastructure) => TandemService | Promise<TandemService>;

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
