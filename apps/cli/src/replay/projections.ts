import type { DocumentStore } from '@tandem/documents';
import { fromRecord, type ReceivedEvent } from '@tandem/event-sourcing';
import type { RecordBatch } from '@tandem/messaging';
import type { AnyServiceDefinition, Feed, ProjectionDefinition } from '@tandem/runtime';
import { TANDEM_SERVICES } from '@tandem/services';
import { type ServiceName, UsageError } from './connection';
import { isService, SERVICES } from './services';

/** Replays a service's topic from its beginning to its current end, batch by batch. */
export type Replay = (service: ServiceName, onBatch: (batch: RecordBatch) => Promise<void>) => Promise<void>;

/** The live consumer group that keeps a projection, and the topic it reads. */
export interface LiveGroup {
  readonly service: ServiceName;
  /** The group is `<prefix><service>.<purpose>`. */
  readonly purpose: string;
  readonly topic: ServiceName;
}

/**
 * A projection the CLI can rebuild: its service's own definition, built into a store laid out as
 * the service's (same collection names), so the rebuild compares document by document.
 */
export interface ProjectionSpec {
  readonly name: string;
  /** The service whose read models hold it. */
  readonly service: ServiceName;
  /** The topics it is built from, by service. */
  readonly topics: readonly ServiceName[];
  /** The collections compared with the live ones. */
  readonly collections: readonly string[];
  /** Fields that legitimately differ between the live documents and a rebuild, and why. */
  readonly ignoredFields: Readonly<Record<string, string>>;
  readonly liveGroups: readonly LiveGroup[];
  rebuild(store: DocumentStore, replay: Replay): Promise<void>;
}

/** Names the CLI has always taken besides the projections' own. */
const ALIASES: Readonly<Record<string, string>> = {
  'accounts-read-model': 'accounts',
  presence: 'presence-privacy',
};

const serviceName = (name: string): ServiceName => {
  if (!isService(name)) throw new Error(`the service ${name} publishes no topic the CLI knows`);
  return name;
};

/** Hands a feed one replayed batch: decoded event by event in log order, or whole. */
async function feedBatch(feed: Feed<unknown>, projection: unknown, batch: RecordBatch): Promise<void> {
  if (!('codec' in feed)) {
    await feed.applyBatch(projection, batch);
    return;
  }
  for (const record of batch.records) {
    const { metadata, payload } = fromRecord(record);
    if (metadata.payloadType !== feed.codec.payloadType) continue;
    await feed.apply(projection, { event: feed.codec.decode(payload), metadata } as ReceivedEvent<never>);
  }
}

function specOf(
  service: AnyServiceDefinition,
  projection: ProjectionDefinition<unknown, unknown>,
): ProjectionSpec {
  const owner = serviceName(service.name);
  return {
    name: projection.name,
    service: owner,
    topics: [...new Set(projection.feeds.map((feed) => serviceName(feed.topic)))],
    collections: projection.collections,
    ignoredFields: projection.volatileFields ?? {},
    liveGroups: projection.feeds.map((feed) => ({
      service: owner,
      purpose: feed.group,
      topic: serviceName(feed.topic),
    })),
    async rebuild(store, replay) {
      const instance = projection.create(store);
      for (const feed of projection.feeds) {
        await replay(serviceName(feed.topic), (batch) => feedBatch(feed, instance, batch));
      }
    },
  };
}

/** Every projection of every service, as the services declare them. */
export function allProjections(): ProjectionSpec[] {
  return TANDEM_SERVICES.flatMap((service) =>
    (service.projections as readonly ProjectionDefinition<unknown, unknown>[]).map((projection) =>
      specOf(service, projection),
    ),
  );
}

/** The projection by name; one kept by several services (the device directory) needs the service. */
export function projectionSpec(name: string, service?: string): ProjectionSpec {
  if (service !== undefined && !isService(service)) {
    throw new UsageError(`--service ${service}: give one of ${SERVICES.join(', ')}`);
  }
  const all = allProjections();
  const named = all.filter((spec) => spec.name === (ALIASES[name] ?? name));
  if (named.length === 0) {
    const names = [...new Set(all.map((spec) => spec.name))];
    throw new UsageError(`no projection ${name}: give one of ${names.join(', ')}`);
  }
  if (service !== undefined) {
    const spec = named.find((candidate) => candidate.service === service);
    if (!spec) {
      throw new UsageError(
        `${service} keeps no ${name}: ${named.map((candidate) => candidate.service).join(', ')} do`,
      );
    }
    return spec;
  }
  if (named.length > 1) {
    throw new UsageError(
      `the ${name} is kept by several services: give --service (${named.map((spec) => spec.service).join(', ')})`,
    );
  }
  return named[0]!;
}
