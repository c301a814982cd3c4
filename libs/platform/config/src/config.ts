import { resolve } from 'node:path';
import { ConfigError } from './config-error';
import { type KafkaSecurity, loadKafkaSecurity, PLAINTEXT } from './kafka-security';

/**
 * Tandem's configuration, from the environment. With KAFKA_BROKERS and MONGODB_URI set the
 * services use them (distributed mode, as in Kubernetes); with neither set they use the embedded
 * event log and stores under TANDEM_DATA_DIR (embedded mode, the default on a bare machine).
 */
export interface TandemConfig {
  readonly mode: 'embedded' | 'distributed';
  /** Kafka bootstrap brokers (distributed mode). */
  readonly kafkaBrokers: readonly string[];
  /** TLS and SASL towards Kafka (distributed mode); PLAINTEXT unless KAFKA_SSL / KAFKA_SASL_* say otherwise. */
  readonly kafkaSecurity: KafkaSecurity;
  /** MongoDB connection string (distributed mode). */
  readonly mongoUri: string | undefined;
  /** Each service's database is `<prefix>_<service>`. */
  readonly mongoDatabasePrefix: string;
  /** Where embedded mode keeps its event log and stores, and where generated keys live. */
  readonly dataDir: string;
  /** host:port the gRPC server listens on. */
  readonly grpcAddress: string;
  /** Partitions of each topic Tandem creates. */
  readonly topicPartitions: number;
  /** Prefix of every topic and consumer group name, to share a Kafka cluster between installations. */
  readonly topicPrefix: string;
  readonly tokens: {
    /** PKCS#8 PEM Ed25519 key that signs device tokens (the linking service); generated into dataDir when unset. */
    readonly privateKeyPem: string | undefined;
    /** SPKI PEM Ed25519 key that verifies device tokens (every service); derived from the private key when unset. */
    readonly publicKeyPem: string | undefined;
    readonly ttlSeconds: number;
  };
  readonly logLevel: string;
  /** Port of the Prometheus scrape endpoint (`/metrics`); none when unset. */
  readonly metricsPort: number | undefined;
  /**
   * How long a stop (SIGTERM) may take: work in hand not finished by then is given up (it is
   * delivered again after the restart) and the process exits.
   */
  readonly shutdownSeconds: number;
  readonly linking: {
    /** Companion devices an account may link besides its primary. */
    readonly maxCompanions: number;
    /** How long a link session (a QR code) can be approved. */
    readonly linkSessionTtlSeconds: number;
    /** After how long without the primary signing in its companions are unlinked. */
    readonly primaryInactivitySeconds: number;
    /** How often the link-session and inactivity sweepers run. */
    readonly sweepIntervalSeconds: number;
    /** Link sessions per source address and link approvals per account, per window. */
    readonly rateLimit: { readonly requests: number; readonly windowSeconds: number };
    /** Sign-in attempts per device, per window. */
    readonly signInRateLimit: { readonly requests: number; readonly windowSeconds: number };
  };
  readonly fanout: {
    /** Messages one device may send per window. */
    readonly sendRateLimit: { readonly requests: number; readonly windowSeconds: number };
    /** How long an unacked inbox entry is kept. */
    readonly inboxRetentionSeconds: number;
    /** How often the inbox expiry sweep runs. */
    readonly expirySweepIntervalSeconds: number;
    /** How often the inboxes folded in memory are stored and their log position committed. */
    readonly checkpointIntervalMs: number;
    /** How long delivery receipts are gathered before they are issued, one per sending account. */
    readonly receiptWindowMs: number;
  };
  readonly presence: {
    /** After how long without a heartbeat a device without an open inbox stream is offline. */
    readonly timeoutSeconds: number;
    /** How long a typing or recording indicator lasts unless it is said again. */
    readonly typingSeconds: number;
  };
  readonly backups: {
    /** Backups kept per account and provider; recording a newer one prunes the oldest. */
    readonly retention: number;
  };
  readonly media: {
    /** Largest encrypted blob a device may upload, in bytes. */
    readonly maxBlobBytes: number;
    /** How long an upload may take to complete before it is removed. */
    readonly uploadTtlSeconds: number;
    /** How long an uploaded blob is kept. */
    readonly retentionSeconds: number;
    /** Bytes one account's uploads and blobs may take together. */
    readonly quotaBytes: number;
    /** How often the sweep that removes expired uploads and blobs runs. */
    readonly sweepIntervalSeconds: number;
    /** How long a companion has to receive a history bundle announced to it. */
    readonly historyTtlSeconds: number;
    /** The S3-compatible object store blobs are kept in; unset: a folder in the data folder. */
    readonly s3: S3Config | undefined;
  };
}

/** Where an S3-compatible object store is and how to sign in to it. */
export interface S3Config {
  /** The S3 API's URL; unset for AWS itself (the region's endpoint). */
  readonly endpoint: string | undefined;
  readonly region: string;
  readonly bucket: string;
  /** Static keys; unset: the AWS SDK's default chain (environment, web identity, instance role). */
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string } | undefined;
  /** The bucket in the URL's path rather than its host name (most S3-compatible servers). */
  readonly forcePathStyle: boolean;
}

/** S3 when S3_ENDPOINT or TANDEM_MEDIA_S3_BUCKET is set. */
function s3Config(env: NodeJS.ProcessEnv): S3Config | undefined {
  const endpoint = env['S3_ENDPOINT'] || undefined;
  const bucket = env['TANDEM_MEDIA_S3_BUCKET'] || undefined;
  if (!endpoint && !bucket) return undefined;
  const accessKeyId = env['S3_ACCESS_KEY_ID'] || undefined;
  const secretAccessKey = env['S3_SECRET_ACCESS_KEY'] || undefined;
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
    throw new ConfigError('set both S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY, or neither');
  }
  const pathStyle = env['S3_FORCE_PATH_STYLE'];
  if (pathStyle !== undefined && pathStyle !== '' && pathStyle !== 'true' && pathStyle !== 'false') {
    throw new ConfigError(`S3_FORCE_PATH_STYLE must be true or false, got "${pathStyle}"`);
  }
  return {
    endpoint,
    region: env['S3_REGION'] || 'us-east-1',
    bucket: bucket ?? 'tandem-media',
    credentials: accessKeyId && secretAccessKey ? { accessKeyId, secretAccessKey } : undefined,
    forcePathStyle: pathStyle ? pathStyle === 'true' : endpoint !== undefined,
  };
}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min = 1): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) {
    throw new ConfigError(`${name} must be an integer of at least ${min}, got "${raw}"`);
  }
  return value;
}

function port(env: NodeJS.ProcessEnv, name: string): number {
  const value = integer(env, name, 0);
  if (value > 65_535) throw new ConfigError(`${name} must be a port number, got "${env[name]}"`);
  return value;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): TandemConfig {
  const brokers = (env['KAFKA_BROKERS'] ?? '')
    .split(',')
    .map((broker) => broker.trim())
    .filter(Boolean);
  const mongoUri = env['MONGODB_URI'] || undefined;
  if (brokers.length > 0 !== (mongoUri !== undefined)) {
    throw new ConfigError(
      'set both KAFKA_BROKERS and MONGODB_URI for distributed mode, or neither for embedded mode',
    );
  }
  return {
    mode: mongoUri ? 'distributed' : 'embedded',
    kafkaBrokers: brokers,
    // Read only where Kafka is used: embedded mode ignores the Kafka settings and their files.
    kafkaSecurity: brokers.length > 0 ? loadKafkaSecurity(env) : PLAINTEXT,
    mongoUri,
    mongoDatabasePrefix: env['TANDEM_MONGODB_DATABASE_PREFIX'] || 'tandem',
    dataDir: resolve(env['TANDEM_DATA_DIR'] || 'data'),
    grpcAddress: env['TANDEM_GRPC_ADDRESS'] || '127.0.0.1:50051',
    topicPartitions: integer(env, 'TANDEM_TOPIC_PARTITIONS', 6),
    topicPrefix: env['TANDEM_TOPIC_PREFIX'] ?? '',
    tokens: {
      privateKeyPem: env['TANDEM_TOKEN_PRIVATE_KEY'] || undefined,
      publicKeyPem: env['TANDEM_TOKEN_PUBLIC_KEY'] || undefined,
      ttlSeconds: integer(env, 'TANDEM_TOKEN_TTL_SECONDS', 900),
    },
    logLevel: env['TANDEM_LOG_LEVEL'] || 'info',
    metricsPort: env['TANDEM_METRICS_PORT'] ? port(env, 'TANDEM_METRICS_PORT') : undefined,
    shutdownSeconds: integer(env, 'TANDEM_SHUTDOWN_SECONDS', 8),
    linking: {
      maxCompanions: integer(env, 'TANDEM_MAX_COMPANIONS', 4),
      linkSessionTtlSeconds: integer(env, 'TANDEM_LINK_SESSION_TTL_SECONDS', 60),
      primaryInactivitySeconds: integer(env, 'TANDEM_PRIMARY_INACTIVITY_SECONDS', 14 * 24 * 3600),
      sweepIntervalSeconds: integer(env, 'TANDEM_SWEEP_INTERVAL_SECONDS', 60),
      rateLimit: {
        requests: integer(env, 'TANDEM_LINK_RATE_LIMIT', 6),
        windowSeconds: integer(env, 'TANDEM_LINK_RATE_WINDOW_SECONDS', 12 * 60),
      },
      signInRateLimit: {
        requests: integer(env, 'TANDEM_SIGN_IN_RATE_LIMIT', 10),
        windowSeconds: integer(env, 'TANDEM_SIGN_IN_RATE_WINDOW_SECONDS', 60),
      },
    },
    fanout: {
      sendRateLimit: {
        requests: integer(env, 'TANDEM_SEND_RATE_LIMIT', 600),
        windowSeconds: integer(env, 'TANDEM_SEND_RATE_WINDOW_SECONDS', 60),
      },
      inboxRetentionSeconds: integer(env, 'TANDEM_INBOX_RETENTION_SECONDS', 30 * 24 * 3600),
      expirySweepIntervalSeconds: integer(env, 'TANDEM_INBOX_SWEEP_INTERVAL_SECONDS', 3600),
      checkpointIntervalMs: integer(env, 'TANDEM_INBOX_CHECKPOINT_MS', 1000),
      receiptWindowMs: integer(env, 'TANDEM_RECEIPT_WINDOW_MS', 500),
    },
    presence: {
      timeoutSeconds: integer(env, 'TANDEM_PRESENCE_TIMEOUT_SECONDS', 60),
      typingSeconds: integer(env, 'TANDEM_PRESENCE_TYPING_SECONDS', 5),
    },
    backups: {
      retention: integer(env, 'TANDEM_BACKUP_RETENTION', 3),
    },
    media: {
      maxBlobBytes: integer(env, 'TANDEM_MEDIA_MAX_BYTES', 100 * 1024 * 1024),
      uploadTtlSeconds: integer(env, 'TANDEM_MEDIA_UPLOAD_TTL_SECONDS', 24 * 3600),
      retentionSeconds: integer(env, 'TANDEM_MEDIA_RETENTION_SECONDS', 30 * 24 * 3600),
      quotaBytes: integer(env, 'TANDEM_MEDIA_QUOTA_BYTES', 2 * 1024 * 1024 * 1024),
      sweepIntervalSeconds: integer(env, 'TANDEM_MEDIA_SWEEP_INTERVAL_SECONDS', 3600),
      historyTtlSeconds: integer(env, 'TANDEM_MEDIA_HISTORY_TTL_SECONDS', 3600),
      s3: s3Config(env),
    },
  };
}
