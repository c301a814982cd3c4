import { generateKeyPairSync } from 'node:crypto';
import { GrpcTestClient, type services } from './grpc-client';
import { type ServiceProcess, startServiceProcess } from './service-process';

/** Where an installation's services find Kafka and the MongoDB-protocol server. */
export interface TestInfrastructure {
  readonly kafkaBrokers: readonly string[];
  readonly mongoUri: string;
}

/** One of the gRPC services of Tandem, as `services` describes it. */
export type TandemService = (typeof services)[keyof typeof services];

/** Anything a test connects to a service process and must close when it is done. */
export interface Closable {
  close(): void;
}

/**
 * One distributed Tandem installation of a test: its own database and topic prefix, its own
 * device-token key pair, the service processes started on it and the clients connected to them.
 * stop() closes the clients, then stops the processes.
 */
export class TestInstallation {
  /**
   * What every process of the installation is started with: Kafka, MongoDB, the prefix of its
   * databases and topics, how many partitions its topics get, and the public key of its tokens.
   */
  readonly env: Readonly<Record<string, string>>;
  /** The variable that lets a service sign device tokens: the installation's private key. */
  readonly signingKeyEnv: Readonly<Record<string, string>>;
  private readonly started: ServiceProcess[] = [];
  private readonly clients: Closable[] = [];

  constructor(
    readonly prefix: string,
    infrastructure: TestInfrastructure,
    options: { readonly partitions?: number } = {},
  ) {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    this.env = {
      KAFKA_BROKERS: infrastructure.kafkaBrokers.join(','),
      MONGODB_URI: infrastructure.mongoUri,
      TANDEM_MONGODB_DATABASE_PREFIX: prefix,
      TANDEM_TOPIC_PREFIX: `${prefix}.`,
      TANDEM_TOPIC_PARTITIONS: String(options.partitions ?? 3),
      TANDEM_TOKEN_PUBLIC_KEY: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    };
    this.signingKeyEnv = {
      TANDEM_TOKEN_PRIVATE_KEY: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    };
  }

  /** Every process started on the installation, stopped ones included, in the order they served. */
  get processes(): readonly ServiceProcess[] {
    return this.started;
  }

  /** Starts `app` as a process with the installation's environment and `extraEnv` over it. */
  async start(app: string, extraEnv: Readonly<Record<string, string>> = {}): Promise<ServiceProcess> {
    const started = await startServiceProcess(app, { ...this.env, ...extraEnv });
    this.started.push(started);
    return started;
  }

  /** A GrpcTestClient of `service` on the process, closed by stop(). */
  client(process: ServiceProcess, service: TandemService): GrpcTestClient {
    return this.connect(process, (address) => new GrpcTestClient(address, service));
  }

  /** A client `create` makes for the process's address (a streaming client), closed by stop(). */
  connect<Client extends Closable>(process: ServiceProcess, create: (address: string) => Client): Client {
    const client = create(process.address);
    this.clients.push(client);
    return client;
  }

  /** Closes every client, then stops every process still running (a stopped one just reports its exit). */
  async stop(): Promise<void> {
    for (const client of this.clients.splice(0)) client.close();
    await Promise.all(this.started.map((process) => process.stop()));
  }
}
