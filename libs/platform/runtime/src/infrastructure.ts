import type { TandemConfig } from '@tandem/config';
import { type DocumentStore, EmbeddedDocumentStore, MongoDocumentStore } from '@tandem/documents';
import { EmbeddedEventStore, type EventStore, MongoEventStore } from '@tandem/event-sourcing';
import { MemoryRateLimit, MongoRateLimits, type RateLimit, type RateLimitSpec } from '@tandem/grpc';
import {
  EmbeddedEventLog,
  type ErrorReporter,
  type EventLog,
  KafkaEventLog,
  type TopicSpec,
} from '@tandem/messaging';
import type { Logger } from '@tandem/observability';
import { MongoClient } from 'mongodb';

/** A service's rate limits (see `Infrastructure.rateLimits`). */
export interface RateLimits {
  limit(spec: RateLimitSpec): RateLimit;
  /** Removes the counts of windows that have ended: a periodic job (`rateLimitSweeper`). */
  sweep(): Promise<void>;
}

/** Rate limits in this process's memory: embedded mode, where one process serves. */
const memoryRateLimits: RateLimits = {
  limit: (spec) => new MemoryRateLimit(spec),
  sweep: async () => undefined,
};

/**
 * The event log and stores a process runs on: Kafka and MongoDB in distributed mode, the embedded
 * log and stores under the data folder otherwise. Services get the same ports either way and
 * never know which they have.
 */
export interface Infrastructure {
  readonly config: TandemConfig;
  readonly logger: Logger;
  readonly eventLog: EventLog;
  /** The service's own event store (its own database). */
  eventStore(service: string): Promise<EventStore>;
  /** The service's own read-model store (its own database). */
  documents(service: string): Promise<DocumentStore>;
  /**
   * The service's rate limits: in distributed mode kept in its own database, so that all its
   * replicas count against one budget (see `MongoRateLimits`); in this process's memory otherwise.
   */
  rateLimits(service: string): Promise<RateLimits>;
  /** The topic a service publishes its events to: `tandem.<service>.events`. */
  topic(service: string): TopicSpec;
  /** A consumer group name, e.g. `accounts.read-model`. */
  groupId(service: string, purpose: string): string;
  close(): Promise<void>;
}

/** Adapter errors (retried, never thrown) into the process's JSON log. */
const reportTo =
  (logger: Logger): ErrorReporter =>
  (message, error, context) =>
    logger.error({ err: error, ...context }, message);

function memoize<T>(create: (service: string) => Promise<T>): (service: string) => Promise<T> {
  const made = new Map<string, Promise<T>>();
  return (service) => {
    let value = made.get(service);
    if (!value) {
      value = create(service);
      made.set(service, value);
    }
    return value;
  };
}

export async function openInfrastructure(config: TandemConfig, logger: Logger): Promise<Infrastructure> {
  const names = {
    topic: (service: string): TopicSpec => ({
      name: `${config.topicPrefix}tandem.${service}.events`,
      partitions: config.topicPartitions,
    }),
    groupId: (service: string, purpose: string) => `${config.topicPrefix}${service}.${purpose}`,
  };
  const closers: (() => Promise<void>)[] = [];
  const closeAll = async () => {
    for (const close of closers.reverse()) await close();
  };

  if (config.mode === 'distributed') {
    const client = await MongoClient.connect(config.mongoUri as string);
    const eventLog = new KafkaEventLog({
      brokers: config.kafkaBrokers,
      security: config.kafkaSecurity,
      clientId: 'tandem',
      logger,
    });
    closers.push(
      () => client.close(),
      () => eventLog.close(),
    );
    const database = (service: string) => client.db(`${config.mongoDatabasePrefix}_${service}`);
    const eventStore = memoize(async (service) => {
      const store = await MongoEventStore.open(database(service));
      closers.push(() => store.close());
      return store;
    });
    const documents = memoize(
      async (service) => new MongoDocumentStore(database(service), { collectionPrefix: 'read_' }),
    );
    const rateLimits = memoize(async (service): Promise<RateLimits> => {
      const limits = await MongoRateLimits.open(database(service), logger);
      return {
        limit: (spec) => limits.limit(spec),
        sweep: async () => void (await limits.sweep()),
      };
    });
    return { config, logger, eventLog, eventStore, documents, rateLimits, ...names, close: closeAll };
  }

  const eventLog = new EmbeddedEventLog({ dataDir: config.dataDir, onError: reportTo(logger) });
  closers.push(() => eventLog.close());
  const eventStore = memoize(async (service) => {
    const store = new EmbeddedEventStore({ dataDir: config.dataDir, name: service });
    closers.push(() => store.close());
    return store;
  });
  const documents = memoize(async (service) => {
    // Read models are rebuilt by replay; WAL with synchronous NORMAL still survives a process crash.
    const store = new EmbeddedDocumentStore({
      dataDir: config.dataDir,
      name: service,
      synchronous: 'NORMAL',
    });
    closers.push(() => store.close());
    return store;
  });
  const rateLimits = async () => memoryRateLimits;
  return { config, logger, eventLog, eventStore, documents, rateLimits, ...names, close: closeAll };
}
