import { resolve } from 'node:path';
import { type KafkaSecurity, loadKafkaSecurity } from '@tandem/config';

/** A service's name, as its definition declares it (see services.ts). */
export type ServiceName = string;

/** What the replay commands are told on the command line about where Tandem keeps its data. */
export interface ConnectionOptions {
  readonly brokers?: string;
  readonly dataDir?: string;
  readonly topicPrefix?: string;
  readonly mongo?: string;
  readonly databasePrefix?: string;
}

/**
 * Where the events and read models are: Kafka and MongoDB (distributed mode) or the embedded log
 * and stores in a data folder (embedded mode), named as Tandem names them (see openInfrastructure).
 */
export type Connection =
  | {
      readonly mode: 'distributed';
      readonly brokers: readonly string[];
      /** TLS and SASL, from the environment as the services read it (KAFKA_SSL*, KAFKA_SASL*). */
      readonly security: KafkaSecurity;
      /** Only the commands that read or write read models need it. */
      readonly mongoUri: string | undefined;
      readonly databasePrefix: string;
      readonly topicPrefix: string;
    }
  | { readonly mode: 'embedded'; readonly dataDir: string; readonly topicPrefix: string };

export class UsageError extends Error {
  override name = 'UsageError';
}

/**
 * --brokers or --data-dir on the command line decide; else KAFKA_BROKERS (Kafka), else
 * TANDEM_DATA_DIR or ./data (the embedded log), as Tandem itself decides. Kafka's TLS and SASL
 * settings come from the environment only, as for the services.
 */
export function resolveConnection(
  options: ConnectionOptions,
  env: NodeJS.ProcessEnv = process.env,
): Connection {
  if (options.brokers && options.dataDir) {
    throw new UsageError('give --brokers (Kafka) or --data-dir (the embedded log), not both');
  }
  const topicPrefix = options.topicPrefix ?? env['TANDEM_TOPIC_PREFIX'] ?? '';
  const brokers = options.dataDir ? '' : (options.brokers ?? env['KAFKA_BROKERS'] ?? '');
  const brokerList = brokers
    .split(',')
    .map((broker) => broker.trim())
    .filter(Boolean);
  if (brokerList.length > 0) {
    return {
      mode: 'distributed',
      brokers: brokerList,
      security: loadKafkaSecurity(env),
      mongoUri: options.mongo || env['MONGODB_URI'] || undefined,
      databasePrefix: options.databasePrefix || env['TANDEM_MONGODB_DATABASE_PREFIX'] || 'tandem',
      topicPrefix,
    };
  }
  return {
    mode: 'embedded',
    dataDir: resolve(options.dataDir || env['TANDEM_DATA_DIR'] || 'data'),
    topicPrefix,
  };
}

export const serviceTopic = (connection: Connection, service: ServiceName): string =>
  `${connection.topicPrefix}tandem.${service}.events`;

/** A consumer group of a service, as Tandem names it: `<prefix><service>.<purpose>`. */
export const serviceGroup = (connection: Connection, service: ServiceName, purpose: string): string =>
  `${connection.topicPrefix}${service}.${purpose}`;

/** The MongoDB database of a service's event store and read models. */
export const serviceDatabase = (databasePrefix: string, service: ServiceName): string =>
  `${databasePrefix}_${service}`;

/** Read-model collections of a service's MongoDB database start with it. */
export const READ_MODEL_PREFIX = 'read_';

/** Where a place to print lines goes: stdout and stderr of the process, or a test's buffers. */
export interface CommandIO {
  /** One or more lines (joined by newlines) to stdout; resolves when there is room for more. */
  out(text: string): void | Promise<void>;
  /** A line to stderr. */
  err(line: string): void;
  /** Text to stderr as it is: progress redrawn in place. */
  errRaw(text: string): void;
  /** Progress is drawn in place on a terminal, and printed as lines when asked for elsewhere. */
  readonly errIsTTY: boolean;
}
