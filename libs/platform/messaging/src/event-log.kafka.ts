import {
  type Admin,
  type Consumer,
  Kafka,
  type logCreator,
  logLevel,
  Partitioners,
  type Producer,
} from 'kafkajs';
import type { KafkaSecurity } from '@tandem/config';
import { kafkaClientSecurity } from './kafka-client-security';
import { type ErrorReporter, reportToStderr, type RetryBackoff } from './error-reporting';
import './kafkajs-idle-poll';
import type { EventLog, OutgoingRecord, SubscribeOptions, Subscription, TopicSpec } from './event-log.port';
import { KafkaSubscription } from './event-log-subscription.kafka';

export interface KafkaConsumerSettings {
  /** Defaults to 10 s: a crashed member's partitions move on quickly. */
  readonly sessionTimeoutMs?: number;
  /** Defaults to 30 s: how long a rebalance waits for members busy with a batch. */
  readonly rebalanceTimeoutMs?: number;
  /** Defaults to 1 s; also the heartbeat cadence during a long batch. */
  readonly heartbeatIntervalMs?: number;
  /** How long a fetch waits for new records; defaults to 50 ms, which bounds idle delivery latency. */
  readonly maxWaitTimeInMs?: number;
  /** Partitions handled at once per subscription; defaults to 1 (one batch at a time). */
  readonly partitionsConsumedConcurrently?: number;
}

/** The part of a pino-style logger the adapter writes to. */
export interface KafkaLogger {
  error(fields: Readonly<Record<string, unknown>>, message: string): void;
  warn(fields: Readonly<Record<string, unknown>>, message: string): void;
  info(fields: Readonly<Record<string, unknown>>, message: string): void;
  debug(fields: Readonly<Record<string, unknown>>, message: string): void;
}

export interface KafkaEventLogOptions {
  readonly brokers: readonly string[];
  /** TLS and SASL (loadKafkaSecurity of @tandem/config); PLAINTEXT when unset. */
  readonly security?: KafkaSecurity;
  /** Defaults to `tandem`. */
  readonly clientId?: string;
  /** kafkajs's own log level; defaults to WARN. */
  readonly logLevel?: logLevel;
  /** Routes kafkajs's log lines somewhere; by default they go to `logger`, else to kafkajs's console. */
  readonly logCreator?: logCreator;
  /** The service's logger (pino-compatible): kafkajs's log lines and, without `onError`, handled errors. */
  readonly logger?: KafkaLogger;
  /** Replication factor of the topics `ensureTopics` creates; defaults to the broker's default. */
  readonly replicationFactor?: number;
  readonly consumer?: KafkaConsumerSettings;
  /** Backoff before a failed batch is delivered again; defaults to 200 ms .. 10 s. */
  readonly retryBackoff?: RetryBackoff;
  /** Where handler failures and consumer crashes are reported; defaults to `logger`, else stderr. */
  readonly onError?: ErrorReporter;
}

/**
 * The event log on Kafka, with kafkajs: an idempotent producer (acks from all in-sync replicas, one
 * request in flight, so records of one partition stay in order across retries) and one consumer per
 * subscription that commits a partition's offsets only after its batch handler resolved.
 */
export class KafkaEventLog implements EventLog {
  private readonly kafka: Kafka;
  private readonly onError: ErrorReporter;
  private readonly subscriptions = new Set<KafkaSubscription>();
  private producer: Promise<Producer> | undefined;
  private admin: Promise<Admin> | undefined;

  constructor(private readonly options: KafkaEventLogOptions) {
    const { logger } = options;
    const creator = options.logCreator ?? (logger ? logCreatorFor(logger) : undefined);
    this.kafka = new Kafka({
      clientId: options.clientId ?? 'tandem',
      brokers: [...options.brokers],
      ...(options.security ? kafkaClientSecurity(options.security) : {}),
      logLevel: options.logLevel ?? logLevel.WARN,
      ...(creator ? { logCreator: creator } : {}),
    });
    this.onError =
      options.onError ??
      (logger
        ? (message, error, context) => logger.error({ err: error, ...context }, message)
        : reportToStderr);
  }

  /**
   * Creates the missing topics and waits until every partition of every topic has a leader; existing
   * topics are left as they are. Several processes may call this at once for the same topics: the
   * ones that find a topic already created wait for its leaders just the same.
   */
  async ensureTopics(topics: readonly TopicSpec[]): Promise<void> {
    if (topics.length === 0) return;
    const admin = await this.connectedAdmin();
    const existing = new Set(await whileRetriable(() => admin.listTopics()));
    const missing = topics.filter((topic) => !existing.has(topic.name));
    // One request per topic: kafkajs treats "already exists" as success only when every topic of a
    // request has it, and another process may have created some of them a moment ago.
    await Promise.all(
      missing.map((spec) =>
        whileRetriable(() =>
          admin.createTopics({
            waitForLeaders: false,
            topics: [
              {
                topic: spec.name,
                numPartitions: spec.partitions,
                replicationFactor: this.options.replicationFactor ?? -1,
                configEntries: topicConfig(spec),
              },
            ],
          }),
        ),
      ),
    );
    await this.untilLeadersElected(
      admin,
      topics.map((topic) => topic.name),
    );
  }

  async publish(topic: string, records: readonly OutgoingRecord[]): Promise<void> {
    if (records.length === 0) return;
    const producer = await this.connectedProducer();
    await producer.send({
      topic,
      acks: -1,
      messages: records.map((record) => ({
        key: record.key,
        value: Buffer.from(record.value.buffer, record.value.byteOffset, record.value.byteLength),
        ...(record.headers ? { headers: { ...record.headers } } : {}),
        ...(record.timestamp === undefined ? {} : { timestamp: String(record.timestamp) }),
      })),
    });
  }

  async subscribe(options: SubscribeOptions): Promise<Subscription> {
    const settings = this.options.consumer ?? {};
    const consumer = this.kafka.consumer({
      groupId: options.groupId,
      sessionTimeout: settings.sessionTimeoutMs ?? 10_000,
      rebalanceTimeout: settings.rebalanceTimeoutMs ?? 30_000,
      heartbeatInterval: settings.heartbeatIntervalMs ?? 1_000,
      maxWaitTimeInMs: settings.maxWaitTimeInMs ?? 50,
      allowAutoTopicCreation: false,
    });
    const subscription = new KafkaSubscription(consumer, options, {
      heartbeatIntervalMs: settings.heartbeatIntervalMs ?? 1_000,
      retryBackoff: this.options.retryBackoff ?? { initialMs: 200, maxMs: 10_000 },
      onError: this.onError,
      onStopped: () => this.subscriptions.delete(subscription),
    });
    this.subscriptions.add(subscription);
    consumer.on(consumer.events.CRASH, ({ payload }) =>
      this.onError('event log consumer crashed', payload.error, {
        groupId: options.groupId,
        restarting: payload.restart,
      }),
    );
    const { onAssigned } = options;
    if (onAssigned) {
      consumer.on(consumer.events.GROUP_JOIN, ({ payload }) =>
        onAssigned(
          Object.entries(payload.memberAssignment).flatMap(([topic, partitions]) =>
            partitions.map((partition) => ({ topic, partition })),
          ),
        ),
      );
    }
    try {
      await consumer.connect();
      if (options.fromBeginning === false) await this.startUncommittedPartitionsAtEnd(consumer, options);
      await whileRetriable(() =>
        consumer.subscribe({ topics: [...options.topics], fromBeginning: options.fromBeginning ?? true }),
      );
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: settings.partitionsConsumedConcurrently ?? 1,
        eachBatch: (payload) => subscription.handle(payload),
      });
    } catch (error) {
      await subscription.stop();
      throw error;
    }
    return subscription;
  }

  async close(): Promise<void> {
    await Promise.all([...this.subscriptions].map((subscription) => subscription.stop()));
    const [producer, admin] = [this.producer, this.admin];
    this.producer = undefined;
    this.admin = undefined;
    await Promise.all([
      producer?.then((connected) => connected.disconnect()).catch(() => undefined),
      admin?.then((connected) => connected.disconnect()).catch(() => undefined),
    ]);
  }

  /**
   * kafkajs resolves "latest" at the first fetch, after the group join; records published between
   * `subscribe()` and that fetch would be skipped. Instead the end offsets are taken now, and the
   * partitions the group has no committed offset for are moved there as soon as they are assigned.
   */
  private async startUncommittedPartitionsAtEnd(
    consumer: Consumer,
    options: SubscribeOptions,
  ): Promise<void> {
    const admin = await this.connectedAdmin();
    const committed = await whileRetriable(() =>
      admin.fetchOffsets({ groupId: options.groupId, topics: [...options.topics] }),
    );
    const startAt = new Map<string, string>();
    for (const { topic, partitions } of committed) {
      if (partitions.every((partition) => partition.offset !== '-1')) continue;
      const ends = await whileRetriable(() => admin.fetchTopicOffsets(topic));
      for (const { partition, offset } of partitions) {
        const end = ends.find((candidate) => candidate.partition === partition);
        if (offset === '-1' && end) startAt.set(`${topic}:${partition}`, end.high);
      }
    }
    if (startAt.size === 0) return;
    const removeListener = consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      removeListener();
      for (const [topic, partitions] of Object.entries(payload.memberAssignment)) {
        for (const partition of partitions) {
          const offset = startAt.get(`${topic}:${partition}`);
          if (offset !== undefined) consumer.seek({ topic, partition, offset });
        }
      }
    });
  }

  /** Asks for the topics' metadata until each of their partitions has a leader, for about 30 s at most. */
  private async untilLeadersElected(admin: Admin, topics: readonly string[]): Promise<void> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const { topics: found } = await whileRetriable(() => admin.fetchTopicMetadata({ topics: [...topics] }));
      const leaderless = topics.filter((name) => {
        const partitions = found.find((topic) => topic.name === name)?.partitions ?? [];
        return partitions.length === 0 || partitions.some((partition) => partition.leader < 0);
      });
      if (leaderless.length === 0) return;
      if (Date.now() > deadline) {
        throw new Error(
          `Kafka elected no leader for every partition of ${leaderless.join(', ')} within 30 s`,
        );
      }
      await new Promise((resolveDelay) => setTimeout(resolveDelay, 100));
    }
  }

  private connectedProducer(): Promise<Producer> {
    this.producer ??= connectOrForget(
      this.kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        createPartitioner: Partitioners.DefaultPartitioner,
      }),
      () => (this.producer = undefined),
    );
    return this.producer;
  }

  private connectedAdmin(): Promise<Admin> {
    this.admin ??= connectOrForget(this.kafka.admin(), () => (this.admin = undefined));
    return this.admin;
  }
}

/**
 * kafkajs logs every error response of the protocol at ERROR, also the ones it handles itself, such
 * as "the group is rebalancing"; those become WARN (INFO for rebalances). What it cannot handle
 * surfaces as a crash, reported through `onError`.
 */
function logCreatorFor(logger: KafkaLogger): logCreator {
  return () =>
    ({ namespace, level, log }) => {
      const { message, ...fields } = log;
      const entry = { component: 'kafkajs', namespace, ...fields };
      const handledByKafkajs = namespace === 'Connection' && level === logLevel.ERROR;
      if (handledByKafkajs && /rebalanc/i.test(String(fields['error']))) logger.info(entry, message);
      else if (handledByKafkajs || level === logLevel.WARN) logger.warn(entry, message);
      else if (level === logLevel.ERROR) logger.error(entry, message);
      else if (level === logLevel.INFO) logger.info(entry, message);
      else logger.debug(entry, message);
    };
}

function topicConfig(spec: TopicSpec): { name: string; value: string }[] {
  const cleanupPolicy = spec.compacted
    ? spec.retentionMs === undefined
      ? 'compact'
      : 'compact,delete'
    : 'delete';
  return [
    { name: 'cleanup.policy', value: cleanupPolicy },
    { name: 'retention.ms', value: String(spec.retentionMs ?? -1) },
  ];
}

async function connectOrForget<T extends { connect(): Promise<void> }>(
  client: T,
  forget: () => void,
): Promise<T> {
  try {
    await client.connect();
    return client;
  } catch (error) {
    forget();
    throw error;
  }
}

/**
 * Runs `request` again while Kafka answers with a retriable error, such as "not the leader" for a
 * partition of a topic created a moment ago, for about ten seconds at most.
 */
async function whileRetriable<T>(request: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await request();
    } catch (error) {
      const retriable = (error as { retriable?: boolean }).retriable === true;
      if (!retriable || attempt >= 20) throw error;
      await new Promise((resolveDelay) => setTimeout(resolveDelay, Math.min(100 * attempt, 1_000)));
    }
  }
}
