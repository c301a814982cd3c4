import type { Provider, Type } from '@nestjs/common';
import type { DeviceLookup, DeviceTokens } from '@tandem/auth';
import type { TandemConfig } from '@tandem/config';
import type { DocumentStore } from '@tandem/documents';
import type { EventCodec, EventStore, OutboxRelay, PayloadJson, ReceivedEvent } from '@tandem/event-sourcing';
import type { ServiceDefinition as GrpcService } from '@grpc/grpc-js';
import type { EventLog, RecordBatch, TopicSpec } from '@tandem/messaging';
import type { Logger } from '@tandem/observability';
import type { RateLimits } from './infrastructure';
import type { Worker } from './workers';

/** Takes a topic's events one at a time (each account's in order; accounts at once). */
export interface EventHandler<E> {
  apply(received: ReceivedEvent<E>): Promise<unknown>;
}

/** Takes a partition's records a batch at a time; offsets are committed after it resolves. */
export interface BatchHandler {
  applyBatch(batch: RecordBatch): Promise<unknown>;
}

/**
 * How events of one topic reach a consumer: the topic (a service's, `tandem.<service>.events`),
 * the consumer group that reads it live (`<service>.<group>`; handlers of one service naming the
 * same group share one subscription and run in the order declared), and either a codec (one event
 * at a time) or none (whole batches).
 */
export type Feed<H> =
  | {
      readonly topic: string;
      readonly group: string;
      readonly codec: EventCodec<never>;
      readonly fromBeginning?: boolean;
      apply(handler: H, received: ReceivedEvent<never>): Promise<unknown>;
    }
  | {
      readonly topic: string;
      readonly group: string;
      applyBatch(handler: H, batch: RecordBatch): Promise<unknown>;
    };

/** A feed that hands each decoded event of `codec` to the handler's `apply`. */
export function eventFeed<E, H extends EventHandler<E>>(
  topic: string,
  group: string,
  codec: EventCodec<E>,
  options: { readonly fromBeginning?: boolean } = {},
): Feed<H> {
  return {
    topic,
    group,
    codec: codec as EventCodec<never>,
    ...(options.fromBeginning === undefined ? {} : { fromBeginning: options.fromBeginning }),
    apply: (handler, received) => handler.apply(received as ReceivedEvent<E>),
  };
}

/** A feed that hands each batch of records to the handler's `applyBatch`. */
export function batchFeed<H extends BatchHandler>(topic: string, group: string): Feed<H> {
  return { topic, group, applyBatch: (handler, batch) => handler.applyBatch(batch) };
}

/**
 * A read model folded from topics into a service's documents: the runtime keeps it live with its
 * feeds' consumer groups, and `tandem projections rebuild` builds it again from the same
 * definition into a fresh store with the same collections, then compares.
 */
export interface ProjectionDefinition<P, L = never> {
  readonly name: string;
  /** The collections it writes, in the service's document store. */
  readonly collections: readonly string[];
  /** Fields that legitimately differ between the live documents and a rebuild, and why. */
  readonly volatileFields?: Readonly<Record<string, string>>;
  /** Rebuilt in this order, each topic from its beginning to its end. */
  readonly feeds: readonly Feed<P>[];
  /**
   * The projection over `store`; `live` is what a running service gives it (e.g. whom to tell of
   * changes), absent on a rebuild.
   */
  create(store: DocumentStore, live?: L): P;
  /**
   * A worker of its own that keeps it live instead of the feeds' groups (the inboxes are kept by
   * their partitions' owner, with checkpoints).
   */
  keeper?(projection: P, context: ServiceContext): Worker;
}

/** Reacts to a topic's events: a process manager or a notifier, not a read model to rebuild. */
export interface ConsumerDefinition<Parts> {
  readonly name: string;
  readonly feed: Feed<never>;
  handler(parts: Parts): unknown;
}

/** A scheduled job: runs every interval, one run at a time; a failed run is logged. */
export interface JobDefinition<Parts> {
  readonly name: string;
  intervalMs(config: TandemConfig): number;
  run(parts: Parts, config: TandemConfig): Promise<unknown>;
  /** Runs once before the service serves, too. */
  readonly atStart?: boolean;
}

/** What a service is built from: the process's infrastructure, narrowed to the service's own. */
export interface ServiceContext {
  readonly service: string;
  readonly config: TandemConfig;
  readonly logger: Logger;
  readonly eventLog: EventLog;
  /** This process's instance of the service (consumer groups of its own, signals). */
  readonly instanceId: string;
  /** The service's own read-model store. */
  readonly documents: DocumentStore;
  /** Device tokens as the configuration says: signed by linking, verified by every service. */
  readonly tokens: DeviceTokens;
  /** The topic a service publishes its events to: `tandem.<service>.events`. */
  topic(service: string): TopicSpec;
  /** A consumer group of this service: `<service>.<purpose>`. */
  groupId(purpose: string): string;
  /** The service's rate limits (see `Infrastructure.rateLimits`). */
  rateLimits(): Promise<RateLimits>;
  /** The service's own event store, relayed to its topic (see `ServiceDefinition.events`). */
  eventStore(): EventStore;
  /** The relay of the service's event store. */
  relay(): OutboxRelay;
  /** Wakes the relay: what the service's command handlers call after each append. */
  readonly onAppended: () => void;
  /** The projection the service keeps, created once over its documents (`live` the first time). */
  projection<P, L>(definition: ProjectionDefinition<P, L>, live?: L): P;
}

/**
 * One Tandem service, declared: its gRPC edge, its event store and topic, its projections,
 * consumers and jobs, each a named object. `runServices` builds the workers from it; the embedded
 * process composes every definition; the CLI's replay walks the same definitions.
 */
export interface ServiceDefinition<Parts = unknown> {
  readonly name: string;
  /** Its gRPC service, as generated from its .proto (e.g. `AccountsServiceService`). */
  readonly grpc: GrpcService;
  /** The NestJS controllers of its gRPC service: the edge, and all Nest does. */
  readonly controllers: readonly Type[];
  /** Its event store's payload type: the store is relayed to `tandem.<name>.events`. */
  readonly events?: { readonly payloadType: string };
  /**
   * What it writes into envelopes on its topics, by payload type, as `tandem events` prints them:
   * its event codecs (the one of its event store first).
   */
  readonly payloads: readonly PayloadJson[];
  /** Topics it publishes to besides its own events (short-lived signals and the like). */
  topics?(context: ServiceContext): readonly TopicSpec[];
  /**
   * Builds the service's objects, in order, from its context. Declared before the projections,
   * consumers and jobs that use them, so that their type (`Parts`) is inferred from it.
   */
  build(context: ServiceContext): Promise<Parts> | Parts;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each projection its own types
  readonly projections: readonly ProjectionDefinition<any, any>[];
  readonly consumers: readonly ConsumerDefinition<Parts>[];
  readonly jobs: readonly JobDefinition<Parts>[];
  /** What its controllers are given. */
  providers(parts: Parts, context: ServiceContext): Provider[];
  /** The devices its guard checks each RPC's token against. */
  devices(parts: Parts): DeviceLookup;
  /** Workers that are neither a feed nor a job (restoring state, signals between instances). */
  workers?(parts: Parts, context: ServiceContext): readonly Worker[];
  /** Creates indexes and the like before any worker runs. */
  setUp?(parts: Parts): Promise<unknown>;
  /** Ends its open server streams on shutdown, with UNAVAILABLE; resolves when they have. */
  endStreams?(parts: Parts): Promise<unknown>;
}

/** A service of any parts: what the runtime and the CLI take. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each service its own parts
export type AnyServiceDefinition = ServiceDefinition<any>;

/** Declares a service (type inference for its parts). */
export const defineService = <Parts>(definition: ServiceDefinition<Parts>): ServiceDefinition<Parts> =>
  definition;

/** Declares a projection (type inference for it and what it is given live). */
export const defineProjection = <P, L = never>(
  definition: ProjectionDefinition<P, L>,
): ProjectionDefinition<P, L> => definition;
