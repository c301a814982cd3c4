/**
 * Presence figures over real gRPC, embedded (one `tandem` process) and distributed (accounts,
 * linking and presence processes on Kafka and MongoDB; presence needs no fanout process: it
 * creates fanout's topic itself and sees no inbox streams, only heartbeats):
 *
 * 1. Heartbeats: N accounts registered with their primary only and signed in, each brought
 *    online by its first Heartbeat; then Heartbeats from all of them, round robin (so no device
 *    nears presence's 120 updates per device and minute), at a bounded concurrency for a fixed
 *    time. Prints heartbeats/s, Heartbeat p50/p99 and the CPU of every process.
 * 2. Presence changes: with the N devices online, subscribers (primaries of N's accounts) each
 *    watch every "changer" account (registered but never online) and other online accounts; one
 *    changer after the other sends its first Heartbeat, which makes its account online. Prints
 *    the time from the Heartbeat call to the change's arrival on each subscriber's stream.
 * Then the peak memory (VmHWM) of every process, above all the one that serves presence.
 *
 * Sizes, from the environment:
 *   TANDEM_BENCH_PRESENCE_DEVICES          online devices, one account each (10000)
 *   TANDEM_BENCH_PRESENCE_SETUP_SECONDS    most seconds spent starting to register accounts; N is
 *                                          then the number registered (240: ~9,700 embedded, a
 *                                          few hundred distributed, where FerretDB limits it)
 *   TANDEM_BENCH_PRESENCE_SETUP_CONCURRENCY  accounts registered and signed in in parallel
 *                                          (50 / distributed 10)
 *   TANDEM_BENCH_PRESENCE_SECONDS          length of the heartbeat window (15)
 *   TANDEM_BENCH_PRESENCE_CONCURRENCY      most Heartbeats in flight (64)
 *   TANDEM_BENCH_PRESENCE_SUBSCRIBERS      subscribing devices (50)
 *   TANDEM_BENCH_PRESENCE_CHANGES          presence changes measured, at most 256 (200)
 *   TANDEM_BENCH_PRESENCE_MODES            embedded, distributed or both (both when configured)
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ClientReadableStream, Metadata, type ServiceError, status } from '@grpc/grpc-js';
import type {
  HeartbeatResponse,
  PresenceSnapshot,
  SubscribeResponse,
} from '@tandem/contracts/tandem/presence/v1/presence_service';
import { TypingState } from '@tandem/contracts/tandem/presence/v1/typing';
import {
  eventually,
  type GrpcTestClient,
  OWN_CONNECTION,
  type PresenceStreamingClient,
  presenceStreamingClient,
  type SignedInDevice,
} from '@tandem/harness';
import { type BenchCluster, registerPrimary, startBenchCluster, wantedBackings } from './cluster';
import { createWithin, percentile } from './measure';
import { memoryOf, mib } from './processes';
import { cpuRow, cpuSnapshot, envNumber, header, ms, row, since } from './report';

interface Sizes {
  readonly devices: number;
  readonly setupSeconds: number;
  readonly setupConcurrency: number;
  readonly seconds: number;
  readonly concurrency: number;
  readonly subscribers: number;
  readonly changes: number;
}

function sizes(distributed: boolean): Sizes {
  return {
    devices: Math.max(1, envNumber('TANDEM_BENCH_PRESENCE_DEVICES', 10_000)),
    setupSeconds: envNumber('TANDEM_BENCH_PRESENCE_SETUP_SECONDS', 240),
    // FerretDB on SQLite registers 2-3 accounts/s at 10 in parallel (fewer as collections grow), <1/s at 50.
    setupConcurrency: Math.max(
      1,
      envNumber('TANDEM_BENCH_PRESENCE_SETUP_CONCURRENCY', distributed ? 10 : 50),
    ),
    seconds: envNumber('TANDEM_BENCH_PRESENCE_SECONDS', 15),
    concurrency: Math.max(1, envNumber('TANDEM_BENCH_PRESENCE_CONCURRENCY', 64)),
    subscribers: Math.max(1, envNumber('TANDEM_BENCH_PRESENCE_SUBSCRIBERS', 50)),
    changes: Math.min(MAX_SUBSCRIBED, Math.max(1, envNumber('TANDEM_BENCH_PRESENCE_CHANGES', 200))),
  };
}

/** Most accounts one Subscribe call may watch. */
const MAX_SUBSCRIBED = 256;
/** Presence allows 120 heartbeats and typing updates per device and minute; stay well below. */
const HEARTBEATS_PER_DEVICE = 100;

const latencyText = (sorted: readonly number[]) =>
  `p50 ${ms(percentile(sorted, 50))}  p99 ${ms(percentile(sorted, 99))}  max ${ms(sorted.at(-1) ?? NaN)}`;
const codeOf = (error: unknown) => {
  const code = (error as Partial<ServiceError>).code;
  return code === undefined ? String(error) : (status[code] ?? String(code));
};
const errorText = (errors: ReadonlyMap<string, number>) =>
  [...errors].map(([code, count]) => `${count} ${code}`).join(', ') || 'none';

// ---------------------------------------------------------------------------------------------
// Processes

type Cluster = BenchCluster<'presence'>;

// Devices stay online for the whole run on the heartbeats they sent once.
const PRESENCE_ENV = { TANDEM_PRESENCE_TIMEOUT_SECONDS: '900' };

// ---------------------------------------------------------------------------------------------
// Accounts

/**
 * Creates accounts (a signed-in primary each) on `concurrency` workers until `count` exist or
 * `budgetSeconds` have passed (no new account starts after that). Failed accounts are counted and
 * left out.
 */
async function createAccounts(
  cluster: Cluster,
  count: number,
  concurrency: number,
  budgetSeconds: number,
): Promise<{ devices: SignedInDevice[]; failures: number; firstError?: unknown; seconds: number }> {
  const { created, ...outcome } = await createWithin(count, concurrency, budgetSeconds, () =>
    registerPrimary(cluster),
  );
  return { devices: created, ...outcome };
}

/** Runs `action` on every item, `concurrency` at a time. */
async function forEachConcurrently<T>(
  items: readonly T[],
  concurrency: number,
  action: (item: T) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      for (let index = next++; index < items.length; index = next++) await action(items[index]!);
    }),
  );
}

/** Calls a presence RPC again while presence has not learned of the device yet (UNAVAILABLE). */
const patiently = <T>(action: () => Promise<T>) =>
  eventually(action, { retryOn: [status.UNAVAILABLE], timeoutMs: 300_000, intervalMs: 200 });

// ---------------------------------------------------------------------------------------------
// Subscriptions

/** One subscriber's Subscribe stream, telling every account that came online to `onOnline`. */
class Subscriber {
  private call: ClientReadableStream<SubscribeResponse> | undefined;
  private cancelled = false;
  failures = 0;

  constructor(
    readonly device: SignedInDevice,
    readonly watched: readonly string[],
    private readonly onOnline: (accountId: string) => void,
  ) {}

  /** Opens the stream; resolves with the snapshot, rejects when the stream fails before it. */
  open(client: PresenceStreamingClient): Promise<PresenceSnapshot> {
    const metadata = new Metadata();
    metadata.set('authorization', `Bearer ${this.device.token}`);
    const call = client.Subscribe({ accountIds: [...this.watched] }, metadata);
    this.call = call;
    let snapshotted = false;
    return new Promise((ready, fail) => {
      call.on('data', ({ item }: SubscribeResponse) => {
        if (item?.$case === 'snapshot' && !snapshotted) {
          snapshotted = true;
          ready(item.value);
        } else if (item?.$case === 'presence' && item.value.online) {
          this.onOnline(item.value.accountId);
        }
      });
      call.on('error', (error: ServiceError) => {
        if (!snapshotted) fail(error);
        else if (!this.cancelled) this.failures++;
      });
      call.on('end', () => {
        if (!snapshotted) fail(new Error('the stream ended before the snapshot'));
      });
    });
  }

  cancel(): void {
    this.cancelled = true;
    this.call?.cancel();
  }
}

// ---------------------------------------------------------------------------------------------
// The run

/** Heartbeats from `devices`, round robin, `concurrency` in flight, for `seconds`. */
async function heartbeatLoad(
  presence: GrpcTestClient,
  devices: readonly SignedInDevice[],
  seconds: number,
  concurrency: number,
): Promise<{
  sent: number;
  latencies: number[];
  errors: Map<string, number>;
  seconds: number;
  capped: boolean;
}> {
  const latencies: number[] = [];
  const errors = new Map<string, number>();
  const most = devices.length * HEARTBEATS_PER_DEVICE;
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let index = next++; index < most && since(started) < seconds; index = next++) {
        const device = devices[index % devices.length]!;
        const begin = performance.now();
        try {
          await presence.call<HeartbeatResponse>('Heartbeat', {}, device.token);
          latencies.push(performance.now() - begin);
        } catch (error) {
          const code = codeOf(error);
          errors.set(code, (errors.get(code) ?? 0) + 1);
        }
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  return { sent: latencies.length, latencies, errors, seconds: since(started), capped: next >= most };
}

async function run(cluster: Cluster, sizes: Sizes): Promise<void> {
  const name = cluster.mode;
  const wanted = sizes.devices + sizes.changes;
  header(
    `presence (${name}): up to ${sizes.devices} online devices + ${sizes.changes} accounts that come ` +
      `online, one device each, registered ${sizes.setupConcurrency} in parallel for at most ${sizes.setupSeconds} s`,
  );

  // Setup: accounts, their primaries signed in; the online ones brought online by a Heartbeat.
  const cpuAtStart = cpuSnapshot(cluster);
  const setup = await createAccounts(cluster, wanted, sizes.setupConcurrency, sizes.setupSeconds);
  if (setup.failures > 0) console.warn(`${setup.failures} accounts failed: ${String(setup.firstError)}`);
  const changers = setup.devices.slice(0, sizes.changes);
  const online = setup.devices.slice(sizes.changes);
  if (changers.length < sizes.changes || online.length < sizes.subscribers) {
    throw new Error(
      `only ${setup.devices.length} accounts were registered, fewer than ${sizes.changes + sizes.subscribers}`,
    );
  }
  row(
    `accounts registered, signed in (${name})`,
    `${(setup.devices.length / setup.seconds).toFixed(1).padStart(7)} accounts/s  ` +
      `(${setup.devices.length} in ${setup.seconds.toFixed(1)} s` +
      `${setup.devices.length < wanted ? `, time budget reached: N = ${online.length} instead of ${sizes.devices}` : ''})`,
  );
  row(`CPU while registering (${name})`, cpuRow(cpuAtStart, cpuSnapshot(cluster), setup.seconds));

  const onlineStarted = performance.now();
  const presenceBefore = memoryOf(cluster.serviceProcess.pid);
  await forEachConcurrently(online, sizes.setupConcurrency, (device) =>
    patiently(() => cluster.presence.call<HeartbeatResponse>('Heartbeat', {}, device.token)),
  );
  // The changers' devices made known to presence without a presence change: a STOPPED typing to
  // an account nobody watches, so that their first Heartbeat is not refused with UNAVAILABLE.
  await forEachConcurrently(changers, sizes.setupConcurrency, (device) =>
    patiently(() =>
      cluster.presence.call(
        'SetTyping',
        { chatAccountId: randomUUID(), state: TypingState.TYPING_STATE_STOPPED },
        device.token,
      ),
    ),
  );
  const presenceOnline = memoryOf(cluster.serviceProcess.pid);
  row(
    `N = ${online.length} devices online (${name})`,
    `first Heartbeat of all in ${since(onlineStarted).toFixed(1)} s; ${cluster.serviceProcess.app} VmRSS ` +
      `${mib(presenceOnline?.rss)} (${mib(presenceBefore?.rss)} before)`,
  );

  // 1. Heartbeats.
  const cpuBefore = cpuSnapshot(cluster);
  const load = await heartbeatLoad(cluster.presence, online, sizes.seconds, sizes.concurrency);
  row(
    `Heartbeat, N = ${online.length} (${name}, ${sizes.concurrency} in flight)`,
    `${(load.sent / load.seconds).toFixed(0).padStart(7)} heartbeats/s  ${latencyText(load.latencies)}  ` +
      `(${load.sent} in ${load.seconds.toFixed(2)} s, round robin${load.capped ? `, stopped at ${HEARTBEATS_PER_DEVICE} per device` : ''}; errors: ${errorText(load.errors)})`,
  );
  row(`CPU over the heartbeats (${name})`, cpuRow(cpuBefore, cpuSnapshot(cluster), load.seconds));

  // 2. Presence changes to subscribers.
  const subscriberDevices = online.slice(0, sizes.subscribers);
  const others = online.slice(sizes.subscribers).map((device) => device.accountId);
  const changerIds = changers.map((device) => device.accountId);
  /** The change being measured: its account, its Heartbeat's start and the arrivals so far. */
  let pending: { accountId: string; startedAt: number; arrivals: number[]; done: () => void } | undefined;
  let stray = 0;
  const onOnline = (accountId: string) => {
    if (pending?.accountId !== accountId) {
      if (changerIds.includes(accountId)) stray++;
      return;
    }
    pending.arrivals.push(performance.now() - pending.startedAt);
    if (pending.arrivals.length === subscriberDevices.length) pending.done();
  };
  const subscribers = subscriberDevices.map((device, index) => {
    const extra = Array.from(
      { length: Math.min(others.length, MAX_SUBSCRIBED - changerIds.length) },
      (_, at) => others[(index * 61 + at) % others.length]!,
    );
    return new Subscriber(device, [...changerIds, ...extra], onOnline);
  });
  const streamingClient = presenceStreamingClient(cluster.serviceProcess.address, OWN_CONNECTION);
  try {
    const openStarted = performance.now();
    await forEachConcurrently(subscribers, 10, async (subscriber) => {
      const snapshot = await patiently(async () => {
        try {
          return await subscriber.open(streamingClient);
        } catch (error) {
          subscriber.cancel();
          throw error;
        }
      });
      const changerOnline = snapshot?.presences.find(
        (presence) => presence.online && changerIds.includes(presence.accountId),
      );
      if (changerOnline) throw new Error(`changer ${changerOnline.accountId} is online already`);
    });
    row(
      `subscriptions (${name})`,
      `${subscribers.length} subscribers opened in ${since(openStarted).toFixed(1)} s, each watching ` +
        `${subscribers[0]!.watched.length} accounts (all ${changerIds.length} changers)`,
    );
    await sleep(1_000);

    const perSubscriber: number[] = [];
    const toAll: number[] = [];
    const heartbeats: number[] = [];
    let incomplete = 0;
    const errors = new Map<string, number>();
    const changeStarted = performance.now();
    for (const changer of changers) {
      const arrivals: number[] = [];
      let done = () => undefined as void;
      const all = new Promise<void>((resolveAll) => (done = resolveAll));
      const startedAt = performance.now();
      pending = { accountId: changer.accountId, startedAt, arrivals, done };
      try {
        await cluster.presence.call<HeartbeatResponse>('Heartbeat', {}, changer.token);
        heartbeats.push(performance.now() - startedAt);
        const timedOut = await Promise.race([all.then(() => false), sleep(10_000).then(() => true)]);
        if (timedOut) incomplete++;
        else toAll.push(Math.max(...arrivals));
        perSubscriber.push(...arrivals);
      } catch (error) {
        const code = codeOf(error);
        errors.set(code, (errors.get(code) ?? 0) + 1);
      }
      pending = undefined;
      await sleep(10);
    }
    const changeSeconds = since(changeStarted);
    for (const figures of [perSubscriber, toAll, heartbeats]) figures.sort((a, b) => a - b);
    row(
      `change to a subscriber, N = ${online.length} (${name})`,
      `${latencyText(perSubscriber)}  (${perSubscriber.length} arrivals of ${changers.length} changes ` +
        `x ${subscribers.length} subscribers in ${changeSeconds.toFixed(1)} s)`,
    );
    row(
      `change to all ${subscribers.length} subscribers (${name})`,
      `${latencyText(toAll)}  (${toAll.length} changes complete, ${incomplete} not within 10 s; ` +
        `errors: ${errorText(errors)}; ${stray} late arrivals; ` +
        `${subscribers.reduce((sum, subscriber) => sum + subscriber.failures, 0)} streams failed)`,
    );
    row(`Heartbeat that changed presence (${name})`, latencyText(heartbeats));
  } finally {
    for (const subscriber of subscribers) subscriber.cancel();
    streamingClient.close();
  }

  const presenceMemory = memoryOf(cluster.serviceProcess.pid);
  row(
    `${cluster.serviceProcess.app} process, serves presence (${name})`,
    `VmHWM ${mib(presenceMemory?.peak)} (VmRSS now ${mib(presenceMemory?.rss)}, ${mib(presenceBefore?.rss)} ` +
      `before the first Heartbeat) with ${online.length + changers.length} devices online, ${subscribers.length} subscriptions`,
  );
  const own = memoryOf('self');
  row(
    `peak memory, VmHWM (${name})`,
    [
      ...cluster.processes.map((service) => `${service.app} ${mib(memoryOf(service.pid)?.peak)}`),
      `bench client ${mib(own?.peak)}`,
    ].join(', '),
  );
}

/** Presence heartbeat throughput and change-to-subscriber latency, embedded and distributed. */
export async function benchPresence(
  kafkaBrokers: string | undefined,
  mongoUri: string | undefined,
): Promise<void> {
  const modes = wantedBackings('TANDEM_BENCH_PRESENCE_MODES', kafkaBrokers, mongoUri).map((backing) => ({
    start: () => startBenchCluster('presence', PRESENCE_ENV, backing),
    sizes: sizes(backing !== undefined),
  }));
  for (const { start, sizes } of modes) {
    const cluster = await start();
    try {
      await run(cluster, sizes);
    } finally {
      await cluster.close();
    }
  }
}
