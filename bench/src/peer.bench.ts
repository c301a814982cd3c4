/**
 * The peer's scenario: the one ejabberd (message carbons to every resource) is measured with on
 * this machine, so that the two compare side by side. 100 accounts of 5 devices (a primary and 4
 * linked companions), every device signed in and connected (FanoutService/Connect); open loop: each
 * Send goes from a random device of a random account to a random other account, with envelopes for
 * the recipient's 5 devices and the sender's 4 other devices (9 deliveries) of ~100 bytes; every
 * device acks what it received, cumulatively, at most every 100 ms, on its connection. Rates step
 * up, each with a warm-up and a measured window, until the send-to-arrival p99 passes 100 ms or a
 * delivery of the window is still missing after the drain. Per step it prints offered and achieved
 * Sends/s, deliveries/s, send-to-arrival p50/p99/p99.9, Send p50/p99, missing, CPU per process;
 * then the knee: the highest deliveries/s with p99 < 100 ms and nothing missing.
 *
 * The client is kept cheap (it shares the cores): a Send's ciphertext carries its send time and
 * index, so an arrival is measured without lookups; acks go out from one timer for all devices.
 *
 * Environment (defaults in brackets):
 *   TANDEM_BENCH_PEER_MODES        embedded, distributed or both [both, distributed when configured]
 *   TANDEM_BENCH_PEER_ACCOUNTS     accounts of 5 devices [100]
 *   TANDEM_BENCH_PEER_RATES        Sends/s of the steps, comma-separated [250,500,1000,1500,2000,2500,3000,4000]
 *   TANDEM_BENCH_PEER_WARMUP       warm-up seconds per step [3]
 *   TANDEM_BENCH_PEER_SECONDS      measured seconds per step [10]
 *   TANDEM_BENCH_PEER_FANOUTS      fanout instances, distributed [2]
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ClientDuplexStream, Metadata, type ServiceError } from '@grpc/grpc-js';
import type {
  ConnectRequest,
  ConnectResponse,
  SendRequest,
  SendResponse,
} from '@tandem/contracts/tandem/fanout/v1/fanout_service';
import { EnvelopeType } from '@tandem/contracts/tandem/fanout/v1/inbox';
import type { GetDeviceListResponse } from '@tandem/contracts/tandem/linking/v1/linking_service';
import {
  type FanoutStreamingClient,
  fanoutStreamingClient,
  OWN_CONNECTION,
  type SignedInDevice,
} from '@tandem/harness';
import { type BenchCluster, createAccounts, startBenchCluster, wantedBackings } from './cluster';
import { percentile } from './measure';
import { memoryOf, mib } from './processes';
import { cpuRow, cpuSnapshot, envNumber, header, row } from './report';

const DEVICES = 5;
const CIPHERTEXT_BYTES = 100;
const ACK_INTERVAL_MS = 100;
const P99_LIMIT_MS = 100;
const MAX_IN_FLIGHT = 4_000;
const DRAIN_MS = 5_000;
const STREAMS_PER_CONNECTION = 50;

type Cluster = BenchCluster<'fanout'>;

type ConnectCall = ClientDuplexStream<ConnectRequest, ConnectResponse>;

type ConnectingClient = FanoutStreamingClient & {
  Connect(metadata: Metadata): ConnectCall;
  Send(
    request: SendRequest,
    metadata: Metadata,
    done: (error: ServiceError | null, response?: SendResponse) => void,
  ): void;
};

interface PeerAccount {
  readonly accountId: string;
  readonly listVersion: number;
  readonly devices: readonly PeerDevice[];
}

/** One device as the client keeps it: its connection and how far it received and acked. */
interface PeerDevice {
  readonly signedIn: SignedInDevice;
  readonly metadata: Metadata;
  call?: ConnectCall;
  received: number;
  acked: number;
}

/** What one measured step saw; arrays are filled as things arrive. */
class Step {
  readonly sentAt: number[] = [];
  readonly arrivals: number[] = [];
  readonly accepted: boolean[] = [];
  readonly latencies: number[] = [];
  readonly sendLatencies: number[] = [];
  deliveriesInWindow = 0;
  /** The index of the first Send of the measured window; arrivals of earlier ones are warm-up. */
  firstIndex = Infinity;
  failures = 0;
  skipped = 0;
  firstError: string | undefined;
  measuring = false;
  constructor(readonly rate: number) {}
}

/** Every delivery the client saw, across steps. */
class Totals {
  otherEntries = 0;
  streamFailures = 0;
  messages = 0;
}

const sizes = () => ({
  accounts: Math.max(2, envNumber('TANDEM_BENCH_PEER_ACCOUNTS', 100)),
  rates: (process.env['TANDEM_BENCH_PEER_RATES'] ?? '250,500,1000,1500,2000,2500,3000,4000')
    .split(',')
    .map(Number)
    .filter((rate) => rate > 0),
  warmupSeconds: envNumber('TANDEM_BENCH_PEER_WARMUP', 3),
  seconds: envNumber('TANDEM_BENCH_PEER_SECONDS', 10),
  fanouts: Math.max(1, envNumber('TANDEM_BENCH_PEER_FANOUTS', 2)),
});

export async function benchPeer(
  kafkaBrokers: string | undefined,
  mongoUri: string | undefined,
): Promise<void> {
  for (const backing of wantedBackings('TANDEM_BENCH_PEER_MODES', kafkaBrokers, mongoUri)) {
    const size = sizes();
    const cluster = await startBenchCluster(
      'fanout',
      { TANDEM_SEND_RATE_LIMIT: '100000000', ...extraEnv() },
      backing,
      backing ? size.fanouts : 1,
    );
    try {
      await run(cluster, size);
    } finally {
      await cluster.close();
    }
  }
}

async function run(cluster: Cluster, size: ReturnType<typeof sizes>): Promise<void> {
  header(
    `peer scenario, ${cluster.mode} (${cluster.processes.map((process) => process.app).join(', ')}): ` +
      `${size.accounts} accounts of ${DEVICES} devices, 9 deliveries per Send`,
  );
  const setupStarted = performance.now();
  const {
    accounts: created,
    failures,
    firstError,
  } = await createAccounts(cluster, size.accounts, () => DEVICES, 20);
  if (failures > 0) throw new Error(`setting up ${failures} accounts failed: ${String(firstError)}`);
  const accounts: PeerAccount[] = [];
  for (const { devices } of created) {
    const { listVersion } = await cluster.linking.call<GetDeviceListResponse>(
      'GetDeviceList',
      { accountId: devices[0]!.accountId },
      devices[0]!.token,
    );
    accounts.push({
      accountId: devices[0]!.accountId,
      listVersion,
      devices: devices.map((signedIn) => {
        const metadata = new Metadata();
        metadata.set('authorization', `Bearer ${signedIn.token}`);
        return { signedIn, metadata, received: 0, acked: 0 };
      }),
    });
  }
  row(
    'setup',
    `${accounts.length} accounts, ${accounts.length * DEVICES} devices in ${((performance.now() - setupStarted) / 1000).toFixed(1)} s`,
  );

  const addresses = cluster.serviceAddresses;
  const clients: ConnectingClient[] = [];
  const clientFor = (index: number) => {
    const slot = Math.floor(index / STREAMS_PER_CONNECTION);
    clients[slot] ??= fanoutStreamingClient(
      addresses[slot % addresses.length]!,
      OWN_CONNECTION,
    ) as ConnectingClient;
    return clients[slot];
  };
  const senders = addresses.map(
    (address) => fanoutStreamingClient(address, OWN_CONNECTION) as ConnectingClient,
  );
  const totals = new Totals();
  let step: Step | undefined;

  const onEntries = (device: PeerDevice, response: ConnectResponse) => {
    const now = performance.now();
    for (const entry of response.entries) {
      if (entry.sequence > device.received) device.received = entry.sequence;
      const content = entry.content?.$case === 'message' ? entry.content.value.content : undefined;
      if (!content) {
        totals.otherEntries++;
        continue;
      }
      totals.messages++;
      const index = content.readUInt32LE(8);
      if (!step || content.readUInt32LE(12) !== step.rate) continue;
      step.arrivals[index] = (step.arrivals[index] ?? 0) + 1;
      if (index >= step.firstIndex) step.latencies.push(now - content.readDoubleLE(0));
      if (step.measuring) step.deliveriesInWindow++;
    }
  };

  const connectAll = accounts
    .flatMap((account) => account.devices)
    .map(
      (device, index) =>
        new Promise<void>((ready, fail) => {
          const call = clientFor(index).Connect(device.metadata);
          device.call = call;
          let caughtUp = false;
          call.on('data', (response: ConnectResponse) => {
            onEntries(device, response);
            if (response.caughtUp && !caughtUp) {
              caughtUp = true;
              ready();
            }
          });
          call.on('error', (error: ServiceError) => {
            if (!caughtUp) fail(error);
            else totals.streamFailures++;
          });
          call.write({ frame: { $case: 'open', value: { afterSequence: 0 } } });
        }),
    );
  await Promise.all(connectAll);
  row('connected', `${connectAll.length} devices streaming`);

  const acks = setInterval(() => {
    for (const account of accounts)
      for (const device of account.devices)
        if (device.received > device.acked && device.call) {
          device.call.write({ frame: { $case: 'ack', value: { throughSequence: device.received } } });
          device.acked = device.received;
        }
  }, ACK_INTERVAL_MS);

  const filler = randomBytes(CIPHERTEXT_BYTES);
  let inFlight = 0;
  const send = (current: Step, index: number) => {
    if (inFlight >= MAX_IN_FLIGHT) {
      current.skipped++;
      return;
    }
    const from = accounts[Math.floor(Math.random() * accounts.length)]!;
    let to = accounts[Math.floor(Math.random() * (accounts.length - 1))]!;
    if (to === from) to = accounts[accounts.length - 1]!;
    const sender = from.devices[Math.floor(Math.random() * DEVICES)]!;
    const content = Buffer.from(filler);
    const sentAt = performance.now();
    content.writeDoubleLE(sentAt, 0);
    content.writeUInt32LE(index, 8);
    content.writeUInt32LE(current.rate, 12);
    const envelope = (account: PeerAccount, device: PeerDevice) => ({
      accountId: account.accountId,
      deviceId: device.signedIn.deviceId,
      registrationId: device.signedIn.keys.registrationId,
      type: EnvelopeType.ENVELOPE_TYPE_CIPHERTEXT,
      content,
    });
    const request: SendRequest = {
      recipientAccountId: to.accountId,
      clientMessageId: `${current.rate}-${index}`,
      recipientListVersion: to.listVersion,
      envelopes: [
        ...to.devices.map((device) => envelope(to, device)),
        ...from.devices.filter((device) => device !== sender).map((device) => envelope(from, device)),
      ],
    };
    current.sentAt[index] = sentAt;
    inFlight++;
    senders[index % senders.length]!.Send(request, sender.metadata, (error) => {
      inFlight--;
      if (error) {
        current.failures++;
        current.firstError ??= `${error.code} ${error.details}`;
        return;
      }
      current.accepted[index] = true;
      current.sendLatencies.push(performance.now() - sentAt);
    });
  };

  const results: { rate: number; deliveries: number; p99: number; missing: number }[] = [];
  try {
    for (const rate of size.rates) {
      const current = new Step(rate);
      step = current;
      const windowStart = await offer(current, size.warmupSeconds, size.seconds, send, cluster);
      const result = await finish(current, windowStart, cluster);
      results.push({ rate, ...result });
      if (result.p99 >= P99_LIMIT_MS || result.missing > 0 || totals.streamFailures > 0) break;
    }
  } finally {
    clearInterval(acks);
    for (const account of accounts) for (const device of account.devices) device.call?.cancel();
    for (const client of [...clients, ...senders]) client?.close();
  }
  const knee = results.filter((result) => result.p99 < P99_LIMIT_MS && result.missing === 0).at(-1);
  row(
    'knee',
    knee
      ? `${knee.deliveries.toFixed(0)} deliveries/s (${knee.rate} Sends/s offered) with p99 < ${P99_LIMIT_MS} ms and nothing missing`
      : `none: the first step already missed p99 < ${P99_LIMIT_MS} ms or lost a delivery`,
  );
  row(
    'other entries',
    `${totals.otherEntries} receipts and system entries besides ${totals.messages} messages; stream failures ${totals.streamFailures}`,
  );
  row(
    'memory',
    [
      ...cluster.processes.map((service) => `${service.app} peak ${mib(memoryOf(service.pid)?.peak)}`),
      `bench client peak ${mib(memoryOf('self')?.peak)}`,
    ].join(', '),
  );
}

/**
 * Offers Sends at the step's rate for the warm-up and the measured window; returns when the
 * window began. Sends are issued on a 5 ms tick to keep up with the rate without a timer each.
 */
async function offer(
  current: Step,
  warmupSeconds: number,
  seconds: number,
  send: (current: Step, index: number) => void,
  cluster: Cluster,
): Promise<{ at: number; cpu: ReturnType<typeof cpuSnapshot>; firstIndex: number }> {
  const started = performance.now();
  const warmupEnd = started + warmupSeconds * 1000;
  const end = warmupEnd + seconds * 1000;
  let issued = 0;
  let window: { at: number; cpu: ReturnType<typeof cpuSnapshot>; firstIndex: number } | undefined;
  for (;;) {
    const now = performance.now();
    if (!window && now >= warmupEnd) {
      window = { at: now, cpu: cpuSnapshot(cluster), firstIndex: issued };
      current.firstIndex = issued;
      current.measuring = true;
    }
    if (now >= end) break;
    const due = Math.floor(((now - started) / 1000) * current.rate);
    while (issued < due) send(current, issued++);
    await sleep(5);
  }
  current.measuring = false;
  return window!;
}

/** Waits for the window's deliveries (up to the drain time) and prints the step's row. */
async function finish(
  current: Step,
  window: { at: number; cpu: ReturnType<typeof cpuSnapshot>; firstIndex: number },
  cluster: Cluster,
): Promise<{ deliveries: number; p99: number; missing: number }> {
  const windowEnd = performance.now();
  const cpuAfter = cpuSnapshot(cluster);
  const measured = (index: number) => index >= window.firstIndex && current.sentAt[index]! < windowEnd;
  const missingNow = () => {
    let missing = 0;
    current.accepted.forEach((accepted, index) => {
      if (accepted && measured(index)) missing += 9 - (current.arrivals[index] ?? 0);
    });
    return missing;
  };
  const drainEnd = performance.now() + DRAIN_MS;
  while (missingNow() > 0 && performance.now() < drainEnd) await sleep(50);
  const missing = missingNow();
  let acceptedInWindow = 0;
  current.accepted.forEach((accepted, index) => {
    if (accepted && measured(index)) acceptedInWindow++;
  });
  const latencies = current.latencies.sort((a, b) => a - b);
  const sendLatencies = current.sendLatencies.sort((a, b) => a - b);
  const elapsed = (windowEnd - window.at) / 1000;
  const deliveries = current.deliveriesInWindow / elapsed;
  const p99 = percentile(latencies, 99);
  const f = (value: number) => value.toFixed(1);
  row(
    `${current.rate} Sends/s offered`,
    `${(acceptedInWindow / elapsed).toFixed(0)} Sends/s, ${deliveries.toFixed(0)} deliveries/s; ` +
      `send-to-arrival p50 ${f(percentile(latencies, 50))} / p99 ${f(p99)} / p99.9 ${f(percentile(latencies, 99.9))} ms; ` +
      `Send p50 ${f(percentile(sendLatencies, 50))} / p99 ${f(percentile(sendLatencies, 99))} ms; ` +
      `missing ${missing}; failed ${current.failures}${current.firstError ? ` (${current.firstError})` : ''}; ` +
      `not offered (${MAX_IN_FLIGHT} in flight) ${current.skipped}`,
  );
  row('', `CPU: ${cpuRow(window.cpu, cpuAfter, elapsed)}`);
  return { deliveries, p99, missing };
}

/** TANDEM_BENCH_PEER_ENV="NAME=value,..." sets more variables of the fanout processes, to compare settings. */
function extraEnv(): Record<string, string> {
  const pairs = (process.env['TANDEM_BENCH_PEER_ENV'] ?? '').split(',').filter((pair) => pair.includes('='));
  return Object.fromEntries(
    pairs.map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]),
  );
}
