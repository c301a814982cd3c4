import { generateKeyPairSync } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RegisterResponse } from '@tandem/contracts/tandem/accounts/v1/accounts_service';
import {
  eventually,
  GrpcTestClient,
  newDevice,
  newPhoneNumber,
  type ServiceProcess,
  services,
  signIn,
  startServiceProcess,
} from '@tandem/harness';
import { measure, report } from './measure';

interface Setup {
  readonly name: string;
  readonly processes: ServiceProcess[];
  readonly accounts: GrpcTestClient;
  readonly linking: GrpcTestClient;
  cleanUp(): void;
}

async function embedded(): Promise<Setup> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tandem-bench-'));
  const tandem = await startServiceProcess('tandem', { TANDEM_DATA_DIR: dataDir });
  return {
    name: 'embedded',
    processes: [tandem],
    accounts: new GrpcTestClient(tandem.address, services.accounts),
    linking: new GrpcTestClient(tandem.address, services.linking),
    cleanUp: () => rmSync(dataDir, { recursive: true, force: true }),
  };
}

async function distributed(kafkaBrokers: string, mongoUri: string): Promise<Setup> {
  const prefix = `bench_${Date.now()}`;
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const common = {
    KAFKA_BROKERS: kafkaBrokers,
    MONGODB_URI: mongoUri,
    TANDEM_MONGODB_DATABASE_PREFIX: prefix,
    TANDEM_TOPIC_PREFIX: `${prefix}.`,
  };
  const [accounts, linking] = await Promise.all([
    startServiceProcess('accounts', {
      ...common,
      TANDEM_TOKEN_PUBLIC_KEY: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    }),
    startServiceProcess('linking', {
      ...common,
      TANDEM_TOKEN_PRIVATE_KEY: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    }),
  ]);
  return {
    name: 'distributed',
    processes: [accounts, linking],
    accounts: new GrpcTestClient(accounts.address, services.accounts),
    linking: new GrpcTestClient(linking.address, services.linking),
    cleanUp: () => undefined,
  };
}

async function run(setup: Setup, registrations: number, updates: number): Promise<void> {
  const concurrency = 16;
  const device = newDevice();
  report(
    `Register (${setup.name}, ${concurrency} in flight)`,
    await measure(registrations, concurrency, () =>
      setup.accounts.call<RegisterResponse>('Register', {
        phoneNumber: newPhoneNumber(),
        identityKey: device.identityKey,
        registrationId: device.registrationId,
        deviceName: 'bench',
      }),
    ),
  );

  const burstEnded = performance.now();
  const signedIn = await Promise.all(
    Array.from({ length: concurrency }, async () => {
      const primary = newDevice();
      const { accountId } = await setup.accounts.call<RegisterResponse>('Register', {
        phoneNumber: newPhoneNumber(),
        identityKey: primary.identityKey,
        registrationId: primary.registrationId,
        deviceName: 'bench',
      });
      const token = await signIn(setup.linking, primary, accountId, 1, 300_000);
      await eventually(() => setup.accounts.call('GetAccount', { accountId }, token), { timeoutMs: 300_000 });
      return { accountId, token };
    }),
  );
  console.log(
    `${`events caught up after the Register burst (${setup.name})`.padEnd(48)}  ` +
      `${((performance.now() - burstEnded) / 1000).toFixed(2)} s until new accounts sign in and are known to accounts`,
  );
  report(
    `UpdateProfile (${setup.name}, ${concurrency} accounts in flight)`,
    await measure(updates, concurrency, (index, worker) => {
      const { accountId, token } = signedIn[worker]!;
      return setup.accounts.call('UpdateProfile', { accountId, about: `status ${index}` }, token);
    }),
  );
}

/** Register and UpdateProfile throughput and latency over real gRPC, embedded and distributed. */
export async function benchAccounts(
  kafkaBrokers: string | undefined,
  mongoUri: string | undefined,
): Promise<void> {
  const setups = [{ start: embedded, registrations: 2_000, updates: 4_000 }];
  if (kafkaBrokers && mongoUri) {
    setups.push({ start: () => distributed(kafkaBrokers, mongoUri), registrations: 1_000, updates: 2_000 });
  }
  for (const { start, registrations, updates } of setups) {
    const setup = await start();
    try {
      await run(setup, registrations, updates);
    } finally {
      setup.accounts.close();
      setup.linking.close();
      for (const process of setup.processes) await process.stop('SIGTERM');
      setup.cleanUp();
    }
  }
}
