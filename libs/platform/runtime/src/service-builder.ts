import { randomUUID } from 'node:crypto';
import { type DynamicModule, Module, type Provider, type Type } from '@nestjs/common';
import {
  DEVICE_AUTHENTICATOR,
  DeviceAuthenticator,
  DeviceAuthGuard,
  DeviceTokens,
  loadTokenKeys,
} from '@tandem/auth';
import {
  type EventCodec,
  type EventStore,
  OutboxRelay,
  type ReceivedEvent,
  toRecord,
} from '@tandem/event-sourcing';
import { type GrpcServiceSpec, grpcServiceOf } from '@tandem/grpc';
import type { RecordBatch, Subscription, TopicSpec } from '@tandem/messaging';
import type { Infrastructure, RateLimits } from './infrastructure';
import type { Feed, ProjectionDefinition, ServiceContext, ServiceDefinition } from './service-definition';
import { consumerWorker, periodicWorker, type Worker } from './workers';

/**
 * How often a relay looks for commits it was not woken for (another instance's, or a crashed
 * process's). Appends in this process wake it at once, so this bounds only that recovery delay,
 * while keeping idle polling from reading the event store fifty times a second.
 */
export const RELAY_IDLE_POLL_MS = 500;

/** How often a service removes the rate-limit counts of windows that have ended. */
export const RATE_LIMIT_SWEEP_INTERVAL_MS = 60_000;

/** A service built from its definition, ready to run alone or beside the others in one process. */
export interface BuiltService {
  readonly name: string;
  readonly grpc: GrpcServiceSpec;
  /** The NestJS module of its controllers. */
  readonly module: DynamicModule;
  /** Topics it publishes to or consumes; created when missing. */
  readonly topics: readonly TopicSpec[];
  readonly workers: readonly Worker[];
  readonly setUp?: () => Promise<void>;
  /** Ends its open server streams on shutdown, with UNAVAILABLE; resolves when they have ended. */
  readonly endStreams?: () => Promise<void>;
}

/** One handler of a consumer group: a projection's feed or a consumer, with what it applies to. */
interface GroupMember {
  readonly feed: Feed<unknown>;
  readonly handler: unknown;
}

/** The handlers of one consumer group of a service, in the order declared. */
interface Group {
  readonly topic: string;
  readonly group: string;
  readonly members: GroupMember[];
}

/** The one subscription of a consumer group: events one at a time, or batches, never both. */
function groupWorker(service: string, group: Group, infrastructure: Infrastructure): Worker {
  const name = `${service}.${group.group}`;
  const groupId = infrastructure.groupId(service, group.group);
  const topic = infrastructure.topic(group.topic).name;
  const perEvent = group.members.filter((member) => 'codec' in member.feed);
  if (perEvent.length === 0) {
    const members = group.members.map(({ feed, handler }) => ({
      handler,
      applyBatch: (feed as Extract<Feed<unknown>, { applyBatch: unknown }>).applyBatch,
    }));
    let subscription: Subscription | undefined;
    return {
      name,
      async start() {
        subscription = await infrastructure.eventLog.subscribe({
          groupId,
          topics: [topic],
          fromBeginning: true,
          onBatch: async (batch: RecordBatch) => {
            for (const member of members) await member.applyBatch(member.handler, batch);
          },
        });
      },
      stop: async () => subscription?.stop(),
    };
  }
  if (perEvent.length !== group.members.length) {
    throw new Error(`${name}: a consumer group takes events one at a time or in batches, not both`);
  }
  const members = perEvent.map(({ feed, handler }) => ({
    handler,
    feed: feed as Extract<Feed<unknown>, { codec: unknown }>,
  }));
  const first = members[0]!.feed;
  if (members.some(({ feed }) => feed.codec.payloadType !== first.codec.payloadType)) {
    throw new Error(`${name}: every handler of a consumer group reads the same events`);
  }
  return consumerWorker(name, infrastructure.eventLog, {
    groupId,
    topic,
    codec: first.codec as EventCodec<never>,
    fromBeginning: first.fromBeginning ?? true,
    handle: async (received: ReceivedEvent<never>) => {
      for (const { feed, handler } of members) await feed.apply(handler, received);
    },
  });
}

/**
 * A NestJS module of gRPC controllers and what they are given. Nest serves the gRPC edge only:
 * each service gets a module class of its own (`AccountsGrpcModule`, ...), so that each service's
 * guard checks tokens against its own device directory.
 */
export function grpcModule(
  name: string,
  controllers: readonly Type[],
  providers: readonly Provider[],
): DynamicModule {
  const className = `${name.charAt(0).toUpperCase()}${name.slice(1)}GrpcModule`;
  const module = { [className]: class {} }[className]!;
  Module({})(module);
  return { module, controllers: [...controllers], providers: [...providers] };
}

/**
 * Builds a declared service on the process's infrastructure: its context, its objects, and the
 * workers its definition names: the relay of its event store, one subscription per consumer group,
 * its own workers, its jobs and (when it has rate limits) their sweeper.
 */
export async function buildService<Parts>(
  definition: ServiceDefinition<Parts>,
  infrastructure: Infrastructure,
): Promise<BuiltService> {
  const { name } = definition;
  const { config, logger, eventLog } = infrastructure;
  const documents = await infrastructure.documents(name);
  const ownTopic = infrastructure.topic(name);
  let store: EventStore | undefined;
  let relay: OutboxRelay | undefined;
  if (definition.events) {
    store = await infrastructure.eventStore(name);
    const { payloadType } = definition.events;
    relay = new OutboxRelay({
      store,
      log: eventLog,
      topic: ownTopic.name,
      encode: (event) => toRecord(event, payloadType),
      idleIntervalMs: RELAY_IDLE_POLL_MS,
      onError: (message, error, context) => logger.error({ err: error, ...context }, message),
    });
  }
  let rateLimits: RateLimits | undefined;
  const projections = new Map<ProjectionDefinition<unknown, unknown>, unknown>();
  // Signed by linking, verified by every service.
  const tokens = new DeviceTokens(loadTokenKeys(config), config.tokens.ttlSeconds);
  const noEventStore = () => new Error(`${name} declares no event store`);

  const context: ServiceContext = {
    service: name,
    config,
    logger,
    eventLog,
    instanceId: randomUUID(),
    documents,
    tokens,
    topic: (service) => (service === name ? ownTopic : infrastructure.topic(service)),
    groupId: (purpose) => infrastructure.groupId(name, purpose),
    rateLimits: async () => (rateLimits ??= await infrastructure.rateLimits(name)),
    eventStore: () => {
      if (!store) throw noEventStore();
      return store;
    },
    relay: () => {
      if (!relay) throw noEventStore();
      return relay;
    },
    onAppended: () => relay?.wake(),
    projection: <P, L>(projection: ProjectionDefinition<P, L>, live?: L): P => {
      const key = projection as ProjectionDefinition<unknown, unknown>;
      if (!projections.has(key)) projections.set(key, projection.create(documents, live));
      return projections.get(key) as P;
    },
  };

  const parts = await definition.build(context);

  const groups = new Map<string, Group>();
  const join = (feed: Feed<unknown>, handler: unknown) => {
    const key = `${feed.topic}/${feed.group}`;
    let group = groups.get(key);
    if (!group) {
      group = { topic: feed.topic, group: feed.group, members: [] };
      groups.set(key, group);
    }
    group.members.push({ feed, handler });
  };
  const keepers: Worker[] = [];
  for (const projection of definition.projections as readonly ProjectionDefinition<unknown, unknown>[]) {
    const instance = context.projection(projection);
    if (projection.keeper) keepers.push(projection.keeper(instance, context));
    else for (const feed of projection.feeds) join(feed, instance);
  }
  for (const consumer of definition.consumers) join(consumer.feed as Feed<unknown>, consumer.handler(parts));

  const workers: Worker[] = [
    ...(relay ? [{ name: `${name}.relay`, start: async () => relay.start(), stop: () => relay.stop() }] : []),
    ...(definition.workers?.(parts, context) ?? []),
    ...[...groups.values()].map((group) => groupWorker(name, group, infrastructure)),
    ...keepers,
    ...definition.jobs.map((job) => {
      const run = () => job.run(parts, config).then(() => undefined);
      const periodic = periodicWorker(`${name}.${job.name}`, job.intervalMs(config), run, (error) =>
        logger.error({ err: error, job: job.name }, 'a scheduled job failed'),
      );
      if (!job.atStart) return periodic;
      return {
        name: periodic.name,
        start: async () => {
          await run();
          await periodic.start();
        },
        stop: () => periodic.stop(),
      };
    }),
  ];
  if (rateLimits) {
    const limits = rateLimits;
    workers.push(
      periodicWorker(
        `${name}.rate-limit-sweeper`,
        RATE_LIMIT_SWEEP_INTERVAL_MS,
        () => limits.sweep(),
        (error) => logger.error({ err: error }, 'rate limit sweep failed'),
      ),
    );
  }

  const topics = new Map<string, TopicSpec>();
  for (const topic of [
    ...(definition.events ? [ownTopic] : []),
    ...[...groups.values()].map((group) => context.topic(group.topic)),
    ...(definition.topics?.(context) ?? []),
  ]) {
    if (!topics.has(topic.name)) topics.set(topic.name, topic);
  }

  const providers: Provider[] = [
    ...definition.providers(parts, context),
    // DeviceAuthGuard checks each RPC's token against the service's own device directory.
    { provide: DEVICE_AUTHENTICATOR, useValue: new DeviceAuthenticator(tokens, definition.devices(parts)) },
    DeviceAuthGuard,
  ];
  return {
    name,
    grpc: grpcServiceOf(definition.grpc),
    module: grpcModule(name, definition.controllers, providers),
    topics: [...topics.values()],
    workers,
    ...(definition.setUp ? { setUp: () => definition.setUp!(parts).then(() => undefined) } : {}),
    ...(definition.endStreams
      ? { endStreams: () => definition.endStreams!(parts).then(() => undefined) }
      : {}),
  };
}
