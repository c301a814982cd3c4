/**
 * Fan-out figures over real gRPC, embedded (one `tandem` process) and distributed (accounts,
 * linking and fanout processes on Kafka and MongoDB):
 *
 * 1. Steady send load: accounts of 1 to 5 devices, every device streaming its inbox and acking;
 *    primaries of random accounts send to random other accounts at a target rate. Prints sends/s,
 *    device deliveries/s, send-to-arrival and Send latency, CPU and peak memory per process.
 * 2. Open streams: accounts of 5 devices registered in parallel within a time budget, then one
 *    inbox stream per device; prints the memory of the process that serves them.
 *
 * Sizes, from the environment (embedded / distributed default):
 *   TANDEM_BENCH_FANOUT_ACCOUNTS     accounts of the send load (40 / 20)
 *   TANDEM_BENCH_SEND_RATE           target Sends per second (200 / 100)
 *   TANDEM_BENCH_SECONDS             length of the send window in seconds; 0 skips the load (20)
 *   TANDEM_BENCH_SEND_CONCURRENCY    most Sends in flight (64)
 *   TANDEM_BENCH_ACK_MS              a device acks after this many ms, or at 50 entries (100)
 *   TANDEM_BENCH_STREAMS             devices (5 per account) with open streams; 0 skips it
 *                                    (10000 / 0: through FerretDB, devices register at 0.5-2 per s here)
 *   TANDEM_BENCH_STREAMS_SETUP_SECONDS  most seconds spent starting to register them; the streams
 *                                    opened are those of the devices registered (180 / 120)
 *   TANDEM_BENCH_SETUP_CONCURRENCY   accounts registered and linked in parallel (50 / 10)
 * TANDEM_BENCH_ONLY=fanout runs only this benchmark (bench/src/main.ts), TANDEM_BENCH_FANOUT_MODES=
 * embedded or =distributed only one mode (both by default); TANDEM_BENCH_NODE_OPTIONS
 * becomes the service processes' NODE_OPTIONS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/profiles".
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ClientReadableStream, Metadata, type ServiceError, status } from '@grpc/grpc-js';
import type {
  SendRequest,
  SendResponse,
  StreamInboxResponse,
} from '@tandem/contracts/tandem/fanout/v1/fanout_service';
import { type Envelope, EnvelopeType } from '@tandem/contracts/tandem/fanout/v1/inbox';
import type { DeviceKeys, GetDeviceListResponse } from '@tandem/contracts/tandem/linking/v1/linking_service';
import {
  eventually,
  type FanoutStreamingClient,
  fanoutStreamingClient,
  type GrpcTestClient,
  OWN_CONNECTION,
  type SignedInDevice,
} from '@tandem/harness';
import {
  type BenchAccount,
  type BenchCluster,
  createAccounts,
  startBenchCluster,
  wantedBackings,
} from './cluster';
import { percentile } from './measure';
import { memoryOf, mib } from './processes';
import { cpuRow, cpuSnapshot, envNumber, header, ms, row, since } from './report';

interface Sizes {
  readonly accounts: number;
  readonly sendRate: number;
  readonly seconds: number;
  readonly sendConcurrency: number;
  readonly ackMs: number;
  readonly streams: number;
  readonly streamsSetupSeconds: number;
  readonly setupConcurrency: number;
}

function sizes(distributed: boolean): Sizes {
  return {
    accounts: Math.max(2, envNumber('TANDEM_BENCH_FANOUT_ACCOUNTS', distributed ? 20 : 40)),
    sendRate: envNumber('TANDEM_BENCH_SEND_RATE', distributed ? 100 : 200),
    seconds: envNumber('TANDEM_BENCH_SECONDS', 20),
    sendConcurrency: Math.max(1, envNumber('TANDEM_BENCH_SEND_CONCURRENCY', 64)),
    ackMs: envNumber('TANDEM_BENCH_ACK_MS', 100),
    streams: envNumber('TANDEM_BENCH_STREAMS', distributed ? 0 : 10_000),
    streamsSetupSeconds: envNumber('TANDEM_BENCH_STREAMS_SETUP_SECONDS', distributed ? 120 : 180),
    setupConcurrency: Math.max(1, envNumber('TANDEM_BENCH_SETUP_CONCURRENCY', distributed ? 10 : 50)),
  };
}

// ---------------------------------------------------------------------------------------------
// Processes

type Cluster = BenchCluster<'fanout'>;

const FANOUT_ENV = { TANDEM_SEND_RATE_LIMIT: '10000000' };

function memoryRow(cluster: Cluster): string {
  const services = cluster.processes.map((service) => {
    const memory = memoryOf(service.pid);
    return `${service.app} ${mib(memory?.peak)} (now ${mib(memory?.rss)})`;
  });
  const own = memoryOf('self');
  return [...services, `bench client ${mib(own?.peak)} (now ${mib(own?.rss)})`].join(', ');
}

// ---------------------------------------------------------------------------------------------
// Inbox streams

/** Hands out streaming clients, a new one (a new connection) for every `perClient` streams. */
class StreamingClients {
  readonly clients: FanoutStreamingClient[] = [];
  private used = 0;

  constructor(
    private readonly address: string,
    private readonly perClient = 100,
  ) {}

  next(): FanoutStreamingClient {
    if (this.clients.length === 0 || this.used >= this.perClient) {
      this.clients.push(fanoutStreamingClient(this.address, OWN_CONNECTION));
      this.used = 0;
    }
    this.used++;
    return this.clients.at(-1)!;
  }

  close(): void {
    for (const client of this.clients) client.close();
  }
}

const ACK_BATCH = 50;
const ACK_MAX_IDS = 100;

/** What every device's stream adds to. */
class ReceivingTotals {
  messages = 0;
  otherEntries = 0;
  lastMessageAt = 0;
  acks = 0;
  ackedIds = 0;
  ackFailures = 0;
  streamFailures = 0;
}

/**
 * One device's inbox stream as a client keeps it: the arrival time of each message entry by its
 * server message id, and acks of everything it received, in batches.
 */
class DeviceReceiver {
  /** performance.now() at arrival, by server message id. */
  readonly arrivals = new Map<string, number>();
  private call: ClientReadableStream<StreamInboxResponse> | undefined;
  private pendingAcks: string[] = [];
  private ackTimer: NodeJS.Timeout | undefined;
  private cancelled = false;

  constructor(
    readonly device: SignedInDevice,
    private readonly totals: ReceivingTotals,
    /** Where acks go; none for a device that never acks. */
    private readonly acks: { client: GrpcTestClient; afterMs: number } | undefined,
  ) {}

  /** Opens the stream; resolves at caught_up, rejects when the stream fails before it. */
  open(client: FanoutStreamingClient): Promise<void> {
    const metadata = new Metadata();
    metadata.set('authorization', `Bearer ${this.device.token}`);
    const call = client.StreamInbox({ afterSequence: 0 }, metadata);
    this.call = call;
    let caughtUp = false;
    return new Promise<void>((ready, fail) => {
      call.on('data', ({ item }: StreamInboxResponse) => {
        if (item?.$case === 'entry') {
          if (item.value.content?.$case === 'message') {
            const now = performance.now();
            this.arrivals.set(item.value.serverMessageId, now);
            this.totals.messages++;
            this.totals.lastMessageAt = now;
          } else {
            this.totals.otherEntries++;
          }
          this.ack(item.value.serverMessageId);
        } else if (item?.$case === 'caughtUp' && !caughtUp) {
          caughtUp = true;
          ready();
        }
      });
      call.on('error', (error: ServiceError) => {
        if (!caughtUp) fail(error);
        else if (!this.cancelled) this.totals.streamFailures++;
      });
      call.on('end', () => {
        if (!caughtUp) fail(new Error('the stream ended before caught_up'));
      });
    });
  }

  /** Opens the stream, again while fanout does not know the device yet (UNAVAILABLE). */
  openEventually(client: FanoutStreamingClient): Promise<void> {
    return eventually(
      async () => {
        try {
          await this.open(client);
        } catch (error) {
          this.cancel();
          this.cancelled = false;
          throw error;
        }
      },
      { retryOn: [status.UNAVAILABLE], timeoutMs: 300_000, intervalMs: 200 },
    );
  }

  cancel(): void {
    this.cancelled = true;
    clearTimeout(this.ackTimer);
    this.call?.cancel();
  }

  private ack(serverMessageId: string): void {
    if (!this.acks) return;
    this.pendingAcks.push(serverMessageId);
    if (this.pendingAcks.length >= ACK_BATCH) this.flushAcks();
    else this.ackTimer ??= setTimeout(() => this.flushAcks(), this.acks.afterMs);
  }

  private flushAcks(): void {
    clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    if (!this.acks || this.cancelled) return;
    while (this.pendingAcks.length > 0) {
      const ids = this.pendingAcks.splice(0, ACK_MAX_IDS);
      this.totals.acks++;
      this.totals.ackedIds += ids.length;
      this.acks.client
        .call('Ack', { serverMessageIds: ids }, this.device.token)
        .catch(() => this.totals.ackFailures++);
    }
  }
}

/** Opens every receiver's stream, `concurrency` at a time; resolves when all are caught up. */
async function openAll(
  receivers: readonly DeviceReceiver[],
  streamingClients: StreamingClients,
  concurrency: number,
): Promise<number> {
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, receivers.length) }, async () => {
      for (let index = next++; index < receivers.length; index = next++) {
        await receivers[index]!.openEventually(streamingClients.next());
      }
    }),
  );
  return since(started);
}

// ---------------------------------------------------------------------------------------------
// 1. Steady send load

/** The current device list of an account as senders encrypt to it. */
interface Recipient {
  readonly accountId: string;
  readonly primary: SignedInDevice;
  readonly listVersion: number;
  /** One envelope for each device of the account, the content shared. */
  readonly envelopes: readonly Envelope[];
  /** One envelope for each device but the primary: the sync copies of what the primary sends. */
  readonly syncEnvelopes: readonly Envelope[];
}

const CIPHERTEXT = randomBytes(200);

async function recipientOf(cluster: Cluster, account: BenchAccount): Promise<Recipient> {
  const primary = account.devices[0]!;
  const list = await eventually(async () => {
    const fetched = await cluster.linking.call<GetDeviceListResponse>(
      'GetDeviceList',
      { accountId: account.accountId },
      primary.token,
    );
    if (fetched.devices.length !== account.devices.length) throw new Error('device list not complete yet');
    return fetched;
  });
  const envelope = (device: DeviceKeys): Envelope => ({
    accountId: account.accountId,
    deviceId: device.deviceId,
    registrationId: device.registrationId,
    type: EnvelopeType.ENVELOPE_TYPE_CIPHERTEXT,
    content: CIPHERTEXT,
  });
  return {
    accountId: account.accountId,
    primary,
    listVersion: list.listVersion,
    envelopes: list.devices.map(envelope),
    syncEnvelopes: list.devices.filter((device) => device.deviceId !== primary.deviceId).map(envelope),
  };
}

interface SendResults {
  readonly due: number;
  readonly issued: number;
  readonly accepted: number;
  readonly seconds: number;
  /** performance.now() at each accepted Send's start, by server message id. */
  readonly startedAt: Map<string, number>;
  readonly expectedDeliveries: number;
  readonly latencies: number[];
  readonly errors: Map<string, number>;
}

/**
 * Sends from random primaries to random other accounts at `rate` per second for `seconds`, at
 * most `concurrency` in flight (a Send due while all are in flight waits for one to finish).
 */
async function sendLoad(
  fanout: GrpcTestClient,
  recipients: readonly Recipient[],
  rate: number,
  seconds: number,
  concurrency: number,
): Promise<SendResults> {
  const startedAt = new Map<string, number>();
  const latencies: number[] = [];
  const errors = new Map<string, number>();
  const inFlight = new Set<Promise<void>>();
  const due = Math.floor(rate * seconds);
  let issued = 0;
  let expectedDeliveries = 0;
  let lastDone = 0;
  const random = (length: number) => Math.floor(Math.random() * length);

  const sendOne = async () => {
    const sender = recipients[random(recipients.length)]!;
    let recipient = recipients[random(recipients.length - 1)]!;
    if (recipient === sender) recipient = recipients.at(-1)!;
    const request: SendRequest = {
      recipientAccountId: recipient.accountId,
      clientMessageId: randomUUID(),
      recipientListVersion: recipient.listVersion,
      envelopes: [...recipient.envelopes, ...sender.syncEnvelopes],
    };
    const begin = performance.now();
    try {
      const response = await fanout.call<SendResponse>('Send', request, sender.primary.token);
      const end = performance.now();
      latencies.push(end - begin);
      lastDone = end;
      startedAt.set(response.serverMessageId, begin);
      expectedDeliveries += request.envelopes.length;
    } catch (error) {
      const code = (error as Partial<ServiceError>).code;
      const name = code === undefined ? String(error) : (status[code] ?? String(code));
      errors.set(name, (errors.get(name) ?? 0) + 1);
    }
  };

  const started = performance.now();
  for (let elapsed = 0; issued < due && elapsed < seconds * 1000; elapsed = performance.now() - started) {
    const now = Math.min(due, Math.floor((elapsed / 1000) * rate) + 1);
    while (issued < now && inFlight.size < concurrency) {
      issued++;
      const sending: Promise<void> = sendOne().finally(() => inFlight.delete(sending));
      inFlight.add(sending);
    }
    await sleep(2);
  }
  await Promise.all(inFlight);
  latencies.sort((a, b) => a - b);
  return {
    due,
    issued,
    accepted: startedAt.size,
    seconds: ((lastDone || performance.now()) - started) / 1000,
    startedAt,
    expectedDeliveries,
    latencies,
    errors,
  };
}

async function steadyLoad(cluster: Cluster, sizes: Sizes): Promise<void> {
  const name = cluster.mode;
  header(
    `fan-out, steady send load (${name}): ${sizes.accounts} accounts of 1-5 devices, ` +
      `${sizes.sendRate} Sends/s for ${sizes.seconds} s, acks every ${ACK_BATCH} entries or ${sizes.ackMs} ms`,
  );
  const setup = await createAccounts(
    cluster,
    sizes.accounts,
    (index) => 1 + (index % 5),
    Math.min(sizes.setupConcurrency, 16),
  );
  if (setup.failures > 0) console.warn(`${setup.failures} accounts failed: ${String(setup.firstError)}`);
  if (setup.accounts.length < 2) throw new Error('fewer than 2 accounts were created');
  const devices = setup.accounts.flatMap((account) => account.devices);
  row(
    `setup (${name})`,
    `${setup.accounts.length} accounts, ${devices.length} devices registered and linked in ${setup.seconds.toFixed(1)} s`,
  );

  const totals = new ReceivingTotals();
  const receivers = devices.map(
    (device) => new DeviceReceiver(device, totals, { client: cluster.fanout, afterMs: sizes.ackMs }),
  );
  const streamingClients = new StreamingClients(cluster.serviceProcess.address);
  try {
    const openSeconds = await openAll(receivers, streamingClients, 50);
    const recipients = await Promise.all(setup.accounts.map((account) => recipientOf(cluster, account)));
    row(
      `streams open (${name})`,
      `${receivers.length} streams caught up in ${openSeconds.toFixed(1)} s on ${streamingClients.clients.length} connections`,
    );
    // Backlogs (the device-list system entries of the linking) are acked before the load starts.
    await sleep(Math.max(1_000, 2 * sizes.ackMs));
    Object.assign(totals, new ReceivingTotals());

    const cpuBefore = cpuSnapshot(cluster);
    const started = performance.now();
    const sent = await sendLoad(
      cluster.fanout,
      recipients,
      sizes.sendRate,
      sizes.seconds,
      sizes.sendConcurrency,
    );
    // Drain: until every delivery arrived, nothing arrived for 30 s, or 180 s passed.
    const drainStarted = performance.now();
    let seen = totals.messages;
    let stillSince = performance.now();
    while (totals.messages < sent.expectedDeliveries && since(stillSince) < 30 && since(drainStarted) < 180) {
      await sleep(50);
      if (totals.messages !== seen) {
        seen = totals.messages;
        stillSince = performance.now();
      }
    }
    const elapsed = since(started);
    const cpuAfter = cpuSnapshot(cluster);

    const deliveryLatencies: number[] = [];
    for (const receiver of receivers) {
      for (const [id, arrivedAt] of receiver.arrivals) {
        const sentAt = sent.startedAt.get(id);
        if (sentAt !== undefined) deliveryLatencies.push(arrivedAt - sentAt);
      }
    }
    deliveryLatencies.sort((a, b) => a - b);
    const deliverySeconds = (totals.lastMessageAt - started) / 1000;
    const errors = [...sent.errors].map(([code, count]) => `${count} ${code}`).join(', ') || 'none';

    row(
      `Send (${name})`,
      `${(sent.accepted / sent.seconds).toFixed(0).padStart(7)} sends/s  ` +
        `p50 ${ms(percentile(sent.latencies, 50))}  p99 ${ms(percentile(sent.latencies, 99))}  ` +
        `(${sent.accepted} accepted of ${sent.due} due, ${sent.issued} issued, in ${sent.seconds.toFixed(2)} s; errors: ${errors})`,
    );
    row(
      `delivery to devices (${name})`,
      `${(deliveryLatencies.length / deliverySeconds).toFixed(0).padStart(7)} deliveries/s  ` +
        `send-to-arrival p50 ${ms(percentile(deliveryLatencies, 50))}  ` +
        `p99 ${ms(percentile(deliveryLatencies, 99))}  p99.9 ${ms(percentile(deliveryLatencies, 99.9))}  ` +
        `max ${ms(deliveryLatencies.at(-1) ?? NaN)}  ` +
        `(${deliveryLatencies.length} of ${sent.expectedDeliveries} expected in ${deliverySeconds.toFixed(2)} s)`,
    );
    row(
      `receiving clients (${name})`,
      `${totals.otherEntries} other entries (receipts, system); ${totals.acks} Acks of ${totals.ackedIds} ids, ` +
        `${totals.ackFailures} failed; ${totals.streamFailures} streams failed`,
    );
    row(
      `CPU over ${elapsed.toFixed(1)} s of sending and drain (${name})`,
      cpuRow(cpuBefore, cpuAfter, elapsed),
    );
    row(`peak memory, VmHWM (${name})`, memoryRow(cluster));
  } finally {
    for (const receiver of receivers) receiver.cancel();
    streamingClients.close();
  }
}

// ---------------------------------------------------------------------------------------------
// 2. Open streams

async function openStreams(cluster: Cluster, sizes: Sizes): Promise<void> {
  const name = cluster.mode;
  const wantedAccounts = Math.ceil(sizes.streams / 5);
  header(
    `fan-out, open streams (${name}): up to ${wantedAccounts * 5} devices (${wantedAccounts} accounts x 5), ` +
      `registered ${sizes.setupConcurrency} accounts in parallel for at most ${sizes.streamsSetupSeconds} s`,
  );
  const cpuBefore = cpuSnapshot(cluster);
  const setup = await createAccounts(
    cluster,
    wantedAccounts,
    () => 5,
    sizes.setupConcurrency,
    sizes.streamsSetupSeconds,
  );
  const cpuAfter = cpuSnapshot(cluster);
  if (setup.failures > 0) console.warn(`${setup.failures} accounts failed: ${String(setup.firstError)}`);
  const devices = setup.accounts.flatMap((account) => account.devices);
  row(
    `devices registered (${name})`,
    `${(devices.length / setup.seconds).toFixed(1).padStart(7)} devices/s  ` +
      `(${setup.accounts.length} accounts, ${devices.length} devices in ${setup.seconds.toFixed(1)} s` +
      `${setup.accounts.length < wantedAccounts ? ', time budget reached' : ''})`,
  );
  row(`CPU while registering (${name})`, cpuRow(cpuBefore, cpuAfter, setup.seconds));

  const fanoutPid = cluster.serviceProcess.pid;
  await sleep(2_000);
  const before = memoryOf(fanoutPid);
  const clientBefore = memoryOf('self');
  const totals = new ReceivingTotals();
  const receivers = devices.map((device) => new DeviceReceiver(device, totals, undefined));
  const streamingClients = new StreamingClients(cluster.serviceProcess.address);
  try {
    const openSeconds = await openAll(receivers, streamingClients, 200);
    row(
      `streams opened (${name})`,
      `${(receivers.length / openSeconds).toFixed(0).padStart(7)} streams/s  ` +
        `(${receivers.length} caught up in ${openSeconds.toFixed(1)} s on ${streamingClients.clients.length} connections)`,
    );
    await sleep(5_000);
    const after = memoryOf(fanoutPid);
    const clientAfter = memoryOf('self');
    const perStream = (a?: { rss: number }, b?: { rss: number }) =>
      a && b && receivers.length > 0 ? `${((a.rss - b.rss) / receivers.length / 1024).toFixed(1)} KiB` : '?';
    row(
      `${cluster.serviceProcess.app} process, ${receivers.length} streams open (${name})`,
      `VmRSS ${mib(after?.rss)} (${mib(before?.rss)} before opening), VmHWM ${mib(after?.peak)}; ` +
        `${perStream(after, before)} per stream; ${totals.streamFailures} streams failed`,
    );
    row(
      `bench client, ${receivers.length} streams open (${name})`,
      `VmRSS ${mib(clientAfter?.rss)} (${mib(clientBefore?.rss)} before opening), VmHWM ${mib(clientAfter?.peak)}; ` +
        `${perStream(clientAfter, clientBefore)} per stream`,
    );
  } finally {
    for (const receiver of receivers) receiver.cancel();
    streamingClients.close();
  }
}

/** Fan-out throughput, latency and memory, embedded and (when configured) distributed. */
export async function benchFanout(
  kafkaBrokers: string | undefined,
  mongoUri: string | undefined,
): Promise<void> {
  const modes = wantedBackings('TANDEM_BENCH_FANOUT_MODES', kafkaBrokers, mongoUri).map((backing) => ({
    start: () => startBenchCluster('fanout', FANOUT_ENV, backing),
    sizes: sizes(backing !== undefined),
  }));
  for (const { start, sizes } of modes) {
    for (const run of [steadyLoad, openStreams]) {
      if (run === openStreams ? sizes.streams === 0 : sizes.seconds === 0) continue;
      const cluster = await start();
      try {
        await run(cluster, sizes);
      } finally {
        await cluster.close();
      }
    }
  }
}
