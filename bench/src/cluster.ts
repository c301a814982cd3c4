import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RegisterResponse } from '@tandem/contracts/tandem/accounts/v1/accounts_service';
import {
  GrpcTestClient,
  linkCompanion,
  newDevice,
  services,
  type SignedInDevice,
  signIn,
} from '@tandem/harness';
import { MongoClient } from 'mongodb';
import { createWithin } from './measure';
import { type BenchProcess, startBenchProcess } from './processes';

/** A service a benchmark measures on a cluster of its own, besides the accounts and linking it needs. */
export type BenchService = 'fanout' | 'presence';

/** Clients for AccountsService, LinkingService and the measured service, by service name. */
type BenchClients<Service extends BenchService> = Readonly<
  Record<'accounts' | 'linking' | Service, GrpcTestClient>
>;

/** The services of one benchmark run and clients for them. */
export type BenchCluster<Service extends BenchService> = BenchClients<Service> & {
  readonly mode: 'embedded' | 'distributed';
  readonly processes: BenchProcess[];
  /** The process that serves the measured service (the first, when several instances do). */
  readonly serviceProcess: BenchProcess;
  /** The addresses of every instance of the measured service. */
  readonly serviceAddresses: readonly string[];
  close(): Promise<void>;
};

/** Where a distributed cluster keeps its events and documents. */
export interface BenchBacking {
  readonly kafkaBrokers: string;
  readonly mongoUri: string;
}

/**
 * The backings of the modes a benchmark runs in, as the environment variable `variable` names the
 * modes ("embedded", "distributed" or both, comma-separated; both when unset): undefined for
 * embedded, Kafka and MongoDB for distributed, which is left out when they are not configured.
 */
export function wantedBackings(
  variable: string,
  kafkaBrokers: string | undefined,
  mongoUri: string | undefined,
): (BenchBacking | undefined)[] {
  const wanted = (process.env[variable] || 'embedded,distributed').split(',');
  const backings: (BenchBacking | undefined)[] = [];
  if (wanted.includes('embedded')) backings.push(undefined);
  if (wanted.includes('distributed') && kafkaBrokers && mongoUri) backings.push({ kafkaBrokers, mongoUri });
  return backings;
}

const SERVICE_ENV = { TANDEM_LOG_LEVEL: 'warn', TANDEM_TOKEN_TTL_SECONDS: '3600' };
// Link sessions live 60 s by default, less than a QR flow can take on a loaded distributed setup.
const LINKING_ENV = { TANDEM_LINK_RATE_LIMIT: '100000', TANDEM_LINK_SESSION_TTL_SECONDS: '600' };

/**
 * Starts the services a benchmark of `service` needs: embedded, one `tandem` process on a data
 * directory of its own; with a `backing`, accounts, linking and `service` as separate processes on
 * Kafka topics and MongoDB databases of their own. `env` configures `service`. close() stops the
 * processes and removes the run's data.
 */
export function startBenchCluster<Service extends BenchService>(
  service: Service,
  env: Readonly<Record<string, string>>,
  backing?: BenchBacking,
  instances = 1,
): Promise<BenchCluster<Service>> {
  return backing ? distributedCluster(service, env, backing, instances) : embeddedCluster(service, env);
}

async function embeddedCluster<Service extends BenchService>(
  service: Service,
  env: Readonly<Record<string, string>>,
): Promise<BenchCluster<Service>> {
  const dataDir = mkdtempSync(join(tmpdir(), `tandem-bench-${service}-`));
  const tandem = await startBenchProcess('tandem', {
    ...SERVICE_ENV,
    ...LINKING_ENV,
    ...env,
    TANDEM_DATA_DIR: dataDir,
  });
  const clients = benchClients(service, tandem.address, tandem.address, tandem.address);
  return {
    ...clients,
    mode: 'embedded',
    processes: [tandem],
    serviceProcess: tandem,
    serviceAddresses: [tandem.address],
    async close() {
      for (const client of Object.values<GrpcTestClient>(clients)) client.close();
      await tandem.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function distributedCluster<Service extends BenchService>(
  service: Service,
  env: Readonly<Record<string, string>>,
  { kafkaBrokers, mongoUri }: BenchBacking,
  instances: number,
): Promise<BenchCluster<Service>> {
  const prefix = `bench_${service}_${Date.now()}`;
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const tokenPublicKey = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const common = {
    ...SERVICE_ENV,
    KAFKA_BROKERS: kafkaBrokers,
    MONGODB_URI: mongoUri,
    TANDEM_MONGODB_DATABASE_PREFIX: prefix,
    TANDEM_TOPIC_PREFIX: `${prefix}.`,
  };
  const processes = await Promise.all([
    startBenchProcess('accounts', { ...common, TANDEM_TOKEN_PUBLIC_KEY: tokenPublicKey }),
    startBenchProcess('linking', {
      ...common,
      ...LINKING_ENV,
      TANDEM_TOKEN_PRIVATE_KEY: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    }),
    ...Array.from({ length: instances }, () =>
      startBenchProcess(service, { ...common, ...env, TANDEM_TOKEN_PUBLIC_KEY: tokenPublicKey }),
    ),
  ]);
  const [accounts, linking, served] = processes as [BenchProcess, BenchProcess, BenchProcess];
  const clients = benchClients(service, accounts.address, linking.address, served.address);
  return {
    ...clients,
    mode: 'distributed',
    processes,
    serviceProcess: served,
    serviceAddresses: processes.slice(2).map((instance) => instance.address),
    async close() {
      for (const client of Object.values<GrpcTestClient>(clients)) client.close();
      await Promise.all(processes.map((started) => started.stop()));
      await dropDatabases(mongoUri, prefix);
    },
  };
}

/** Clients for accounts, linking and `service` at the addresses that serve them. */
function benchClients<Service extends BenchService>(
  service: Service,
  accounts: string,
  linking: string,
  served: string,
): BenchClients<Service> {
  const client = (name: keyof typeof services, address: string) =>
    new GrpcTestClient(address, services[name]);
  return {
    accounts: client('accounts', accounts),
    linking: client('linking', linking),
    [service]: client(service, served),
  } as BenchClients<Service>;
}

/** Drops a run's databases, which only take room in the shared MongoDB (FerretDB) once it is over. */
async function dropDatabases(mongoUri: string, prefix: string): Promise<void> {
  const mongo = await MongoClient.connect(mongoUri);
  try {
    const { databases } = await mongo.db().admin().listDatabases({ nameOnly: true });
    for (const { name } of databases) if (name.startsWith(prefix)) await mongo.db(name).dropDatabase();
  } catch (error) {
    console.warn(`could not drop the databases of ${prefix}: ${String(error)}`);
  } finally {
    await mongo.close();
  }
}

/** Phone numbers unique within a run: a random start, counted up. */
let nextPhone = Math.floor(Math.random() * 50_000_000);
const uniquePhoneNumber = () => `+49151${String(nextPhone++ % 100_000_000).padStart(8, '0')}`;

/** Registers an account on a new phone and signs its primary (device 1) in, waiting as long as a loaded setup needs. */
export async function registerPrimary(
  cluster: Pick<BenchClients<BenchService>, 'accounts' | 'linking'>,
): Promise<SignedInDevice> {
  const phone = newDevice();
  const { accountId } = await cluster.accounts.call<RegisterResponse>('Register', {
    phoneNumber: uniquePhoneNumber(),
    identityKey: phone.identityKey,
    registrationId: phone.registrationId,
    deviceName: 'bench phone',
  });
  const token = await signIn(cluster.linking, phone, accountId, 1, 300_000);
  return { accountId, deviceId: 1, token, keys: phone };
}

export interface BenchAccount {
  readonly accountId: string;
  /** The primary (device 1) first, then the companions. */
  readonly devices: readonly SignedInDevice[];
}

/**
 * How long linking a companion waits for linking's projections: a loaded distributed setup on
 * FerretDB takes longer than the harness's 15 s.
 */
const PATIENT_LINKING = { timeoutMs: 300_000, intervalMs: 200 };

/** Registers an account and links companions to it through the QR flow, all signed in. */
async function createAccount(
  cluster: Pick<BenchClients<BenchService>, 'accounts' | 'linking'>,
  deviceCount: number,
): Promise<BenchAccount> {
  const primary = await registerPrimary(cluster);
  const devices: SignedInDevice[] = [primary];
  for (let index = 1; index < deviceCount; index++) {
    devices.push(await linkCompanion(cluster.linking, primary, `bench laptop ${index}`, PATIENT_LINKING));
  }
  return { accountId: primary.accountId, devices };
}

/**
 * Creates accounts on `concurrency` workers until `count` exist or `budgetSeconds` have passed
 * (no new account starts after that). Failed accounts are counted and left out.
 */
export async function createAccounts(
  cluster: Pick<BenchClients<BenchService>, 'accounts' | 'linking'>,
  count: number,
  devicesOf: (index: number) => number,
  concurrency: number,
  budgetSeconds = Infinity,
): Promise<{ accounts: BenchAccount[]; failures: number; firstError?: unknown; seconds: number }> {
  const { created, ...outcome } = await createWithin(count, concurrency, budgetSeconds, (index) =>
    createAccount(cluster, devicesOf(index)),
  );
  return { accounts: created, ...outcome };
}
