import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ServiceError, status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import type {
  GetInboxStatusResponse,
  SendRequest,
  SendResponse,
} from '@tandem/contracts/tandem/fanout/v1/fanout_service';
import { EnvelopeType, SystemEntryKind } from '@tandem/contracts/tandem/fanout/v1/inbox';
import type { GetDeviceListResponse } from '@tandem/contracts/tandem/linking/v1/linking_service';
import {
  createTestAccount,
  eventually,
  fanoutStreamingClient,
  type FanoutStreamingClient,
  type GrpcTestClient,
  type InboxStream,
  messagesOf,
  oneofValue,
  openInboxStream,
  type ServiceProcess,
  services,
  type SignedInDevice,
  type TestAccount,
  testCiphertext,
  testEnvelope,
  TestInstallation,
} from '@tandem/harness';
import { DelayingProxy, testInfrastructure, uniqueName } from '@tandem/testing';

/** A signed-in device of a test account. */
type Device = SignedInDevice;

const millisOf = (date: Date | undefined): number => date?.getTime() ?? Number.NaN;

/** One Send attempt and what came of it. */
interface Attempt {
  readonly startedAt: number;
  readonly endedAt: number;
  readonly response?: SendResponse;
  /** The gRPC status of a failed attempt; undefined for an error without one (a closed client). */
  readonly code?: status;
  readonly error?: string;
}

/** A message of the burst: its request, every attempt, the response it ended with. */
interface BurstMessage {
  readonly index: number;
  readonly request: SendRequest;
  readonly attempts: Attempt[];
  response?: SendResponse;
  /** When the first attempt started and when the accepting response came back. */
  firstStartedAt?: number;
  acceptedAt?: number;
}

/** Failures a Send attempt that overlaps the crash may end with; the sender tries again. */
const RETRYABLE = new Set<status | undefined>([
  undefined,
  status.UNAVAILABLE,
  status.CANCELLED,
  status.DEADLINE_EXCEEDED,
  status.UNKNOWN,
  status.INTERNAL,
  status.ABORTED,
  // Until fanout's projection of the device lists has B's last companion.
  status.FAILED_PRECONDITION,
]);

/** How fanout stops in the middle of the burst: killed, or asked to shut down within its grace period. */
const stops = [
  {
    signal: 'SIGKILL',
    how: 'a crash (SIGKILL)',
    exitCode: null,
    withinMs: Number.POSITIVE_INFINITY,
    storeDelayMs: 0,
  },
  { signal: 'SIGTERM', how: 'a graceful shutdown (SIGTERM)', exitCode: 0, withinMs: 10_000, storeDelayMs: 0 },
  {
    signal: 'SIGTERM',
    how: 'a SIGTERM, store slowed',
    exitCode: 0,
    withinMs: 10_000,
    storeDelayMs: 100,
  },
] as const;

/**
 * Where fanout runs: its own process on Kafka and MongoDB, or inside the one `tandem` process of
 * embedded mode (its event log and stores in a data folder), which a larger burst keeps busier.
 */
const modes = [
  { mode: 'distributed', app: 'fanout', burstSize: 120, concurrency: 8 },
  { mode: 'embedded', app: 'tandem', burstSize: 480, concurrency: 32 },
] as const;

/**
 * Stopping the fan-out process loses and duplicates nothing: accounts, linking and fanout run as
 * processes on Kafka and MongoDB, or together as the one embedded `tandem` process (then the whole
 * process stops, and starts again on its data folder); A (primary and one companion) sends B (primary and two
 * companions) a burst of messages, eight in flight, and fanout is killed with SIGKILL, or stopped
 * with SIGTERM (it must exit 0 within 10 s: streams ended UNAVAILABLE, batches finished or
 * abandoned), a third of the way in; distributed, also while every packet between fanout and
 * MongoDB is held 100 ms (a DelayingProxy) and B's profile changes forty times just before the
 * stop, so that fanout's consumers have work in hand (each of B's devices then gets every change
 * once). The sender retries every failed Send with its client_message_id against a new
 * fanout process; afterwards every accepted message is in every inbox exactly once, with one
 * sequence number, retries of accepted messages are answered as duplicates with the first result.
 */
describe.each(
  modes.flatMap((mode) =>
    stops
      .filter((stop) => stop.storeDelayMs === 0 || mode.mode === 'distributed')
      .map((stop) => ({ ...mode, ...stop })),
  ),
)('$how of the $mode fan-out process loses and duplicates nothing', (stop) => {
  const BURST_SIZE = stop.burstSize;
  const CONCURRENCY = stop.concurrency;
  const KILL_AFTER_RESPONSES = Math.floor(BURST_SIZE / 3);
  /** Profile changes queued for fanout just before a stop with a slow store. */
  const PROFILE_UPDATES = 40;
  const installation = new TestInstallation(
    uniqueName(`e2e_fanout_${stop.mode}_${stop.signal.toLowerCase()}${stop.storeDelayMs ? '_slow' : ''}`),
    testInfrastructure(),
  );
  /** Embedded mode's data folder, the same for the process started again after the stop. */
  const dataDir = mkdtempSync(join(tmpdir(), 'tandem-fanout-stop-'));
  const opened: InboxStream[] = [];
  let accounts: GrpcTestClient;
  let linking: GrpcTestClient;
  /** The fanout process and clients of it in use now: replaced when the process is restarted. */
  let fanoutProcess: ServiceProcess;
  let fanout: GrpcTestClient;
  let streamingClient: FanoutStreamingClient;
  /** Between fanout and MongoDB when the store is to answer slowly. */
  let slowStore: DelayingProxy | undefined;

  let a: TestAccount;
  let b: TestAccount;
  /** B's three devices and A's companion: every message of the burst goes to each of them. */
  let receivers: Device[];
  const streamsBeforeCrash = new Map<Device, InboxStream>();

  /** Registers an account on a new phone and links `companions` companions to it, all signed in. */
  const createAccount = (companions: number) => createTestAccount(accounts, linking, companions);

  /**
   * Opens a device's inbox stream on the current fanout process and waits for its caught_up,
   * retrying while fanout does not know the device yet or is not reachable.
   */
  async function openInbox(device: Device, afterSequence = 0): Promise<InboxStream> {
    const stream = await openInboxStream(streamingClient, device.token, {
      afterSequence,
      retryOn: [status.UNAVAILABLE, status.UNAUTHENTICATED],
    });
    opened.push(stream);
    return stream;
  }

  async function startFanout(): Promise<void> {
    fanoutProcess =
      stop.mode === 'embedded'
        ? await installation.start('tandem', {
            ...installation.signingKeyEnv,
            KAFKA_BROKERS: '',
            MONGODB_URI: '',
            TANDEM_DATA_DIR: dataDir,
            TANDEM_SEND_RATE_LIMIT: '100000',
            TANDEM_LINK_RATE_LIMIT: '50',
          })
        : await installation.start('fanout', {
            TANDEM_SEND_RATE_LIMIT: '100000',
            ...(slowStore ? { MONGODB_URI: `mongodb://${slowStore.address}/?directConnection=true` } : {}),
          });
    fanout = installation.client(fanoutProcess, services.fanout);
    streamingClient = installation.connect(fanoutProcess, fanoutStreamingClient);
    if (stop.mode === 'embedded') {
      accounts = installation.client(fanoutProcess, services.accounts);
      linking = installation.client(fanoutProcess, services.linking);
    }
  }

  beforeAll(async () => {
    if (stop.storeDelayMs > 0) {
      const { hostname, port } = new URL(testInfrastructure().mongoUri);
      slowStore = await DelayingProxy.start({ host: hostname, port: Number(port) }, stop.storeDelayMs);
    }
    if (stop.mode === 'embedded') {
      await startFanout();
    } else {
      const [accountsProcess, linkingProcess] = await Promise.all([
        installation.start('accounts'),
        installation.start('linking', { ...installation.signingKeyEnv, TANDEM_LINK_RATE_LIMIT: '50' }),
        startFanout(),
      ]);
      accounts = installation.client(accountsProcess, services.accounts);
      linking = installation.client(linkingProcess, services.linking);
    }

    [a, b] = await Promise.all([createAccount(1), createAccount(2)]);
    receivers = [...b.devices, ...a.devices.slice(1)];
    for (const [device, stream] of await Promise.all(
      receivers.map(async (device) => [device, await openInbox(device)] as const),
    )) {
      streamsBeforeCrash.set(device, stream);
    }
  });

  afterAll(async () => {
    for (const stream of opened) stream.cancel();
    await installation.stop();
    await slowStore?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it(`delivers every accepted message of a burst once to every device across ${stop.signal}`, async () => {
    onTestFailed(() => {
      for (const process of installation.processes.filter((started) => started.app === stop.app)) {
        console.log(`${stop.app} at ${process.address} printed:\n${process.output().slice(-30_000)}`);
      }
    });
    const t0 = performance.now();
    const elapsed = () => Math.round(performance.now() - t0);
    const [recipientList, ownList] = await Promise.all(
      [b.accountId, a.accountId].map((accountId) =>
        linking.call<GetDeviceListResponse>('GetDeviceList', { accountId }, a.primary.token),
      ),
    );
    expect(recipientList!.devices).toHaveLength(3);
    expect(ownList!.devices).toHaveLength(2);
    const burst: BurstMessage[] = Array.from({ length: BURST_SIZE }, (_, index) => {
      const clientMessageId = randomUUID();
      return {
        index,
        attempts: [],
        request: {
          recipientAccountId: b.accountId,
          clientMessageId,
          recipientListVersion: recipientList!.listVersion,
          envelopes: [
            ...recipientList!.devices.map((device) => testEnvelope(clientMessageId, b.accountId, device)),
            ...ownList!.devices
              .filter((device) => device.deviceId !== a.primary.deviceId)
              .map((device) => testEnvelope(clientMessageId, a.accountId, device)),
          ],
        },
      };
    });

    let responses = 0;
    let crash: Promise<void> | undefined;
    const timings: Record<string, number> = {};
    let crashStartedAt = Number.POSITIVE_INFINITY;
    /** Stops fanout with the signal and starts a new process on the same database and topics. */
    const crashAndRestart = async () => {
      crashStartedAt = performance.now();
      timings['killedAt'] = elapsed();
      const killed = fanoutProcess;
      if (stop.storeDelayMs > 0) await queueProfileUpdates();
      const exitCode = await killed.stop(stop.signal);
      timings['deadAt'] = elapsed();
      expect(exitCode).toBe(stop.exitCode);
      expect(timings['deadAt'] - timings['killedAt']).toBeLessThan(stop.withinMs);
      await startFanout();
      timings['restartedAt'] = elapsed();
    };

    /**
     * Changes B's profile PROFILE_UPDATES times just before the stop: fanout's consumer of the
     * accounts events has them in hand (each one several store round trips) when SIGTERM comes.
     */
    const queueProfileUpdates = async () => {
      for (let index = 0; index < PROFILE_UPDATES; index++) {
        await accounts.call(
          'UpdateProfile',
          { accountId: b.accountId, displayName: `B ${index}` },
          b.primary.token,
        );
      }
      timings['profilesUpdatedAt'] = elapsed();
    };

    /** Sends one message until it is answered, retrying failed attempts with backoff. */
    const deliver = async (message: BurstMessage) => {
      const deadline = Date.now() + 120_000;
      for (let attempt = 1; ; attempt++) {
        const client = fanout;
        const startedAt = performance.now();
        message.firstStartedAt ??= startedAt;
        try {
          const response = await client.call<SendResponse>('Send', message.request, a.primary.token);
          message.attempts.push({ startedAt, endedAt: performance.now(), response });
          message.response = response;
          message.acceptedAt = performance.now();
          responses += 1;
          if (responses >= KILL_AFTER_RESPONSES && !crash) crash = crashAndRestart();
          return;
        } catch (error) {
          const { code, details } = error as Partial<ServiceError>;
          message.attempts.push({
            startedAt,
            endedAt: performance.now(),
            code,
            error: details ?? (error as Error).message,
          });
          if (!RETRYABLE.has(code) || Date.now() > deadline) throw error;
          await sleep(Math.min(1_000, 25 * 2 ** Math.min(attempt, 6)));
        }
      }
    };

    const queue = [...burst];
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        for (let message = queue.shift(); message; message = queue.shift()) await deliver(message);
      }),
    );
    timings['burstDoneAt'] = elapsed();
    expect(crash, 'fanout was killed during the burst').toBeDefined();
    await crash;

    // Every message was accepted once: one distinct server id each.
    const accepted = burst.map((message) => message.response!);
    const acceptedIds = accepted.map((response) => response.serverMessageId);
    expect(new Set(acceptedIds).size).toBe(BURST_SIZE);
    const byServerId = new Map(burst.map((message) => [message.response!.serverMessageId, message]));

    // The Sends that failed around the crash, and the retries answered as duplicates: their first
    // attempt was stored though its answer was lost.
    const retried = burst.filter((message) => message.attempts.length > 1);
    const retriedDuplicates = burst.filter((message) => message.response!.duplicate);
    for (const message of retriedDuplicates) expect(message.attempts.length).toBeGreaterThan(1);
    const failedAttempts = burst.flatMap((message) =>
      message.attempts.filter((attempt) => !attempt.response),
    );
    const failureCodes = new Map<string, number>();
    for (const attempt of failedAttempts) {
      const key = attempt.code === undefined ? `no status (${attempt.error})` : status[attempt.code];
      failureCodes.set(key, (failureCodes.get(key) ?? 0) + 1);
    }
    expect(retried.length, 'Sends in flight at the crash failed and were retried').toBeGreaterThan(0);

    // Sending again what was answered before the crash (the last 40 answers) returns the first
    // result and accepts nothing.
    const answeredBeforeCrash = burst.filter((message) => message.acceptedAt! < crashStartedAt);
    expect(answeredBeforeCrash.length).toBeGreaterThanOrEqual(KILL_AFTER_RESPONSES);
    const resendQueue = answeredBeforeCrash
      .sort((first, second) => first.acceptedAt! - second.acceptedAt!)
      .slice(-40);
    let resent = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        for (let message = resendQueue.shift(); message; message = resendQueue.shift()) {
          const response = await eventually(
            () => fanout.call<SendResponse>('Send', message.request, a.primary.token),
            { retryOn: [status.UNAVAILABLE] },
          );
          expect(response).toEqual({ ...message.response, duplicate: true });
          resent += 1;
        }
      }),
    );
    timings['resentAt'] = elapsed();

    // The old streams died with the process; each device reads its inbox again from the start.
    await Promise.all([...streamsBeforeCrash.values()].map((stream) => stream.closed()));
    const streams = new Map<Device, InboxStream>();
    await Promise.all(
      receivers.map(async (device) => {
        const stream = await openInbox(device, 0);
        streams.set(device, stream);
        await stream.until((items) => {
          const received = new Set(messagesOf(items).map((entry) => entry.serverMessageId));
          return acceptedIds.every((id) => received.has(id)) ? true : undefined;
        }, 60_000);
      }),
    );
    timings['allDeliveredAt'] = elapsed();
    const profileEntries = (stream: InboxStream) =>
      stream
        .entries()
        .filter(
          (entry) =>
            oneofValue(entry.content, 'system')?.kind === SystemEntryKind.SYSTEM_ENTRY_KIND_PROFILE_UPDATED,
        );
    if (stop.storeDelayMs > 0) {
      // The profile changes fanout had in hand at the stop reach each of B's devices.
      for (const device of b.devices) {
        const stream = streams.get(device)!;
        await stream.until(
          () => (profileEntries(stream).length >= PROFILE_UPDATES ? true : undefined),
          60_000,
        );
      }
      timings['profilesDeliveredAt'] = elapsed();
    }

    // Nothing more comes: the stream has all the inbox holds, up to its last sequence.
    await sleep(2_000);
    for (const device of receivers) {
      const stream = streams.get(device)!;
      const inbox = await fanout.call<GetInboxStatusResponse>('GetInboxStatus', {}, device.token);
      expect(stream.entries().at(-1)!.sequence, `${device.accountId}/${device.deviceId}`).toBe(
        inbox.lastSequence,
      );
      expect(inbox.depth).toBe(stream.entries().length);
    }

    const summary: Record<string, unknown>[] = [];
    for (const device of receivers) {
      const name = `${device.accountId === a.accountId ? 'A' : 'B'}/${device.deviceId}`;
      const before = streamsBeforeCrash.get(device)!;
      const after = streams.get(device)!;
      const messages = messagesOf(after.items);
      const ids = messages.map((entry) => entry.serverMessageId);

      // With the slow store: each profile change once.
      if (stop.storeDelayMs > 0 && device.accountId === b.accountId) {
        expect(profileEntries(after), `${name}: profile changes in the inbox`).toHaveLength(PROFILE_UPDATES);
      }

      // Every accepted message, and nothing else, once in the backlog read from sequence 0.
      expect(new Set(ids), name).toEqual(new Set(acceptedIds));
      expect(ids.length, `${name}: messages in the backlog from sequence 0`).toBe(BURST_SIZE);

      // One sequence number per message, the same before and after the crash.
      const seen = [...messagesOf(before.items), ...messages];
      const sequencesById = new Map<string, Set<number>>();
      for (const entry of seen) {
        const sequences = sequencesById.get(entry.serverMessageId) ?? new Set<number>();
        sequences.add(entry.sequence);
        sequencesById.set(entry.serverMessageId, sequences);
      }
      const writtenTwice = [...sequencesById].filter(([, sequences]) => sequences.size > 1);
      expect(
        writtenTwice.map(([id, sequences]) => `${id} at ${[...sequences].join(', ')}`),
        `${name}: messages written to the inbox twice`,
      ).toEqual([]);
      const rawDuplicates = seen.length - sequencesById.size;

      // Sequences strictly increasing and gap-free: nothing was acked.
      const sequences = after.entries().map((entry) => entry.sequence);
      expect(sequences, name).toEqual(sequences.map((_, index) => index + 1));

      // Each entry is the message as accepted, with this device's ciphertext.
      for (const entry of messages) {
        const message = byServerId.get(entry.serverMessageId)!;
        expect(oneofValue(entry.content, 'message'), name).toEqual({
          senderAccountId: a.accountId,
          senderDeviceId: a.primary.deviceId,
          recipientAccountId: b.accountId,
          serverTimestamp: message.response!.serverTimestamp,
          type: EnvelopeType.ENVELOPE_TYPE_CIPHERTEXT,
          content: testCiphertext(message.request.clientMessageId, device.accountId, device.deviceId),
        });
      }

      // A's messages in send order: a message answered before another was first sent comes
      // before it, with a server timestamp no later. Sends in flight together have no order: the
      // inbox holds them as their commits reached the relay, their timestamps may go back.
      const position = new Map(ids.map((id, index) => [id, index]));
      const timestamp = new Map(
        messages.map((entry) => [
          entry.serverMessageId,
          millisOf(oneofValue(entry.content, 'message')!.serverTimestamp),
        ]),
      );
      const outOfOrder = burst.flatMap((earlier) => {
        const earlierId = earlier.response!.serverMessageId;
        return burst
          .filter((later) => {
            const laterId = later.response!.serverMessageId;
            return (
              earlier.acceptedAt! < later.firstStartedAt! &&
              (position.get(earlierId)! > position.get(laterId)! ||
                timestamp.get(earlierId)! > timestamp.get(laterId)!)
            );
          })
          .map((later) => `#${earlier.index} (${earlierId}) after #${later.index}`);
      });
      expect(outOfOrder, `${name}: messages out of send order`).toEqual([]);
      const concurrentInversions = messages.filter(
        (entry, index) =>
          index > 0 &&
          timestamp.get(entry.serverMessageId)! < timestamp.get(messages[index - 1]!.serverMessageId)!,
      ).length;

      summary.push({
        device: name,
        beforeCrash: before.messageIds().length,
        fromSequence0: ids.length,
        distinct: new Set(ids).size,
        rawDuplicatesAcrossReconnect: rawDuplicates,
        lastSequence: sequences.at(-1),
        timestampInversionsOfConcurrentSends: concurrentInversions,
      });
    }

    console.log(
      [
        `${stop.mode} fanout crash burst: ${BURST_SIZE} messages, ${CONCURRENCY} in flight, ${stop.signal} after ${KILL_AFTER_RESPONSES} responses`,
        `accepted ${acceptedIds.length}; retried ${retried.length} messages (${failedAttempts.length} failed attempts: ${JSON.stringify(Object.fromEntries(failureCodes))})`,
        `duplicates returned: ${retriedDuplicates.length} retries of Sends stored before the crash, ${resent} re-sends of Sends answered before it`,
        `timings (ms): ${JSON.stringify(timings)}`,
        ...summary.map((row) => JSON.stringify(row)),
      ].join('\n'),
    );
  }, 180_000);
});
