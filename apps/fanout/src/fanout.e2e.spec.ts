import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type Client,
  type ClientReadableStream,
  credentials,
  loadPackageDefinition,
  Metadata,
  type ServiceClientConstructor,
  type ServiceError,
  status,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RegisterResponse } from '@tandem/contracts/grpc/tandem/accounts/v1/accounts_service';
import type {
  AckResponse,
  CoverageMismatch,
  SendRequest,
  SendResponse,
  StreamInboxRequest,
  StreamInboxResponse,
} from '@tandem/contracts/grpc/tandem/fanout/v1/fanout_service';
import {
  type DeliveryReceipt,
  type Envelope,
  EnvelopeType,
  type InboxEntry,
  SystemEntryKind,
} from '@tandem/contracts/grpc/tandem/fanout/v1/inbox';
import { DevicePlatform } from '@tandem/contracts/grpc/tandem/linking/v1/device_list';
import type {
  ApproveLinkResponse,
  BeginLinkResponse,
  DeviceKeys,
  GetDeviceListResponse,
  ListDevicesResponse,
  WatchLinkResponse,
} from '@tandem/contracts/grpc/tandem/linking/v1/linking_service';
import { GRPC_LOADER_OPTIONS } from '@tandem/grpc';
import {
  eventually,
  grpcFailure,
  GrpcTestClient,
  newDevice,
  newPhoneNumber,
  PROTO_DIR,
  type ServiceProcess,
  services,
  signDeviceList,
  signIn,
  startServiceProcess,
  type TestDevice,
  watchProof,
} from '@tandem/harness';
import { testInfrastructure, uniqueName } from '@tandem/testing';

/** A signed-in device of a test account. */
interface Device {
  readonly accountId: string;
  readonly deviceId: number;
  readonly token: string;
}

/** An account with its primary (device 1) first, then its four companions. */
interface Account {
  readonly accountId: string;
  readonly primary: Device;
  readonly devices: readonly Device[];
}

type FanoutStreamingClient = Client & {
  StreamInbox(request: StreamInboxRequest, metadata: Metadata): ClientReadableStream<StreamInboxResponse>;
};

/** A FanoutService client of its own, for reading server streams item by item. */
function fanoutStreamingClient(address: string): FanoutStreamingClient {
  const definition = loadSync(resolve(PROTO_DIR, services.fanout.protoFile), {
    ...GRPC_LOADER_OPTIONS,
    includeDirs: [PROTO_DIR],
  });
  const loaded = loadPackageDefinition(definition) as unknown as {
    tandem: { fanout: { v1: { FanoutService: ServiceClientConstructor } } };
  };
  const client = new loaded.tandem.fanout.v1.FanoutService(address, credentials.createInsecure());
  return client as unknown as FanoutStreamingClient;
}

const entriesOf = (items: readonly StreamInboxResponse[]): InboxEntry[] =>
  items.flatMap((item) => (item.entry ? [item.entry] : []));

const messagesOf = (items: readonly StreamInboxResponse[]): InboxEntry[] =>
  entriesOf(items).filter((entry) => entry.message);

const receiptsOf = (items: readonly StreamInboxResponse[]): DeliveryReceipt[] =>
  entriesOf(items).flatMap((entry) => (entry.receipt ? [entry.receipt] : []));

function describeEntry(entry: InboxEntry): string {
  if (entry.message) return `message ${entry.serverMessageId}`;
  if (entry.receipt) return `receipt of ${entry.receipt.serverMessageIds.join(',')}`;
  if (entry.system) return `system entry of kind ${entry.system.kind}`;
  return 'entries dropped';
}

/** One device's StreamInbox call, its items collected as they arrive. */
class InboxStream {
  readonly items: StreamInboxResponse[] = [];
  /** Set once the stream ended, normally or with an error. */
  ended = false;
  /** The status the stream failed with; undefined while open or after a normal end. */
  error: ServiceError | undefined;
  private readonly call: ClientReadableStream<StreamInboxResponse>;
  private readonly listeners = new Set<() => void>();

  constructor(client: FanoutStreamingClient, token: string, afterSequence = 0) {
    const metadata = new Metadata();
    metadata.set('authorization', `Bearer ${token}`);
    this.call = client.StreamInbox({ afterSequence }, metadata);
    this.call.on('data', (item: StreamInboxResponse) => {
      this.items.push(item);
      this.notify();
    });
    this.call.on('error', (error: ServiceError) => {
      this.error = error;
    });
    this.call.on('end', () => {
      this.ended = true;
      this.notify();
    });
  }

  entries(): InboxEntry[] {
    return entriesOf(this.items);
  }

  messageIds(): string[] {
    return messagesOf(this.items).map((entry) => entry.serverMessageId);
  }

  /** The entries before the first caught_up, and the last sequence it names. */
  backlog(): { entries: InboxEntry[]; lastSequence: number } {
    const index = this.items.findIndex((item) => item.caughtUp);
    if (index < 0) throw new Error(`not caught up: ${this.describe()}`);
    return {
      entries: entriesOf(this.items.slice(0, index)),
      lastSequence: this.items[index]!.caughtUp!.lastSequence,
    };
  }

  /**
   * Resolves with what `find` finds in the items so far, as soon as it finds something; rejects
   * when the stream ends first (with its error status, if any) or after `timeoutMs`.
   */
  until<T>(find: (items: readonly StreamInboxResponse[]) => T | undefined, timeoutMs = 15_000): Promise<T> {
    return new Promise<T>((resolvePromise, reject) => {
      const finish = (settle: () => void) => {
        clearTimeout(timer);
        this.listeners.delete(check);
        settle();
      };
      const check = () => {
        let found: T | undefined;
        try {
          found = find(this.items);
        } catch (error) {
          finish(() => reject(error as Error));
          return;
        }
        if (found !== undefined) finish(() => resolvePromise(found));
        else if (this.ended)
          finish(() => reject(this.error ?? new Error(`stream ended: ${this.describe()}`)));
      };
      const timer = setTimeout(
        () => finish(() => reject(new Error(`nothing found in ${timeoutMs} ms: ${this.describe()}`))),
        timeoutMs,
      );
      this.listeners.add(check);
      check();
    });
  }

  /** Waits for the end of the stream. */
  async closed(timeoutMs = 15_000): Promise<void> {
    await this.until(() => (this.ended ? true : undefined), timeoutMs);
  }

  cancel(): void {
    this.call.cancel();
  }

  private notify() {
    for (const listener of [...this.listeners]) listener();
  }

  private describe(): string {
    return JSON.stringify(
      this.items.map((item) =>
        item.entry ? `${item.entry.sequence}: ${describeEntry(item.entry)}` : Object.keys(item).join(','),
      ),
    );
  }
}

/** The entries a stream saw from afterSequence 0 are numbered 1, 2, 3 ... without a gap. */
function expectGapFree(stream: InboxStream) {
  const sequences = stream.entries().map((entry) => entry.sequence);
  expect(sequences).toEqual(sequences.map((_, index) => index + 1));
}

/** What a test client "encrypts" for one device: distinct per message and device. */
const ciphertext = (clientMessageId: string, accountId: string, deviceId: number) =>
  Buffer.from(`ciphertext of ${clientMessageId} for ${accountId}/${deviceId}`);

const envelope = (clientMessageId: string, accountId: string, device: DeviceKeys): Envelope => ({
  accountId,
  deviceId: device.deviceId,
  registrationId: device.registrationId,
  type: EnvelopeType.ENVELOPE_TYPE_CIPHERTEXT,
  content: ciphertext(clientMessageId, accountId, device.deviceId),
});

/**
 * Fan-out with accounts, linking and fanout as processes on Kafka and MongoDB: two accounts of a
 * primary and four companions each; A's primary sends B three messages that reach each of B's
 * devices and A's other devices once and in order, online or later from the backlog; acks empty
 * the inbox and send receipts to all of A's devices; sends that miss devices or repeat are
 * refused or answered without delivering again; profile updates reach all of A's devices; a
 * second stream for a device ends the first.
 */
describe('fanning out messages, services as processes on Kafka and MongoDB', () => {
  const prefix = uniqueName('e2e_fanout');
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const processes: ServiceProcess[] = [];
  let accounts: GrpcTestClient;
  let linking: GrpcTestClient;
  let fanout: GrpcTestClient;
  let streamingClient: FanoutStreamingClient;
  const opened: InboxStream[] = [];
  const streams = new Map<Device, InboxStream>();

  let a: Account;
  let b: Account;
  /** The device of B whose inbox is not streamed while A sends. */
  let latecomer: Device;
  const sent: { request: SendRequest; response: SendResponse }[] = [];
  const sentIds = () => sent.map(({ response }) => response.serverMessageId);

  /** The companion shows a QR code, waits on its session, the primary scans and approves. */
  async function link(primary: TestDevice, accountId: string, primaryToken: string, name: string) {
    const companion = newDevice();
    const session = await linking.call<BeginLinkResponse>('BeginLink', {
      identityKey: companion.identityKey,
      registrationId: companion.registrationId,
      name,
      platform: DevicePlatform.DEVICE_PLATFORM_DESKTOP,
    });
    const watched = linking.stream<WatchLinkResponse>('WatchLink', {
      sessionId: session.sessionId,
      signature: watchProof(companion, session.sessionId),
    });
    const list = await eventually(() =>
      linking.call<ListDevicesResponse>('ListDevices', { accountId }, primaryToken),
    );
    const approved = await linking.call<ApproveLinkResponse>(
      'ApproveLink',
      {
        accountId,
        sessionId: session.sessionId,
        identityKey: companion.identityKey,
        listVersion: list.listVersion + 1,
        listSignature: signDeviceList(primary, accountId, list.listVersion + 1, [
          ...list.devices,
          { deviceId: list.nextDeviceId, identityKey: companion.identityKey },
        ]),
      },
      primaryToken,
    );
    await watched;
    const token = await signIn(linking, companion, accountId, approved.deviceId);
    return { accountId, deviceId: approved.deviceId, token };
  }

  /** Registers an account on a new phone and links four companions to it, all signed in. */
  async function createAccount(): Promise<Account> {
    const phone = newDevice();
    const { accountId } = await accounts.call<RegisterResponse>('Register', {
      phoneNumber: newPhoneNumber(),
      identityKey: phone.identityKey,
      registrationId: phone.registrationId,
      deviceName: 'Pixel 9',
    });
    const primary = { accountId, deviceId: 1, token: await signIn(linking, phone, accountId, 1) };
    const devices: Device[] = [primary];
    for (let index = 1; index <= 4; index++) {
      devices.push(await link(phone, accountId, primary.token, `Laptop ${index}`));
    }
    return { accountId, primary, devices };
  }

  /**
   * Opens a device's inbox stream and waits for its caught_up, retrying while fanout's device
   * directory does not know the device yet.
   */
  function openInbox(device: Device, afterSequence = 0): Promise<InboxStream> {
    return eventually(
      async () => {
        const stream = new InboxStream(streamingClient, device.token, afterSequence);
        opened.push(stream);
        try {
          await stream.until((items) => items.find((item) => item.caughtUp));
        } catch (error) {
          stream.cancel();
          throw error;
        }
        streams.set(device, stream);
        return stream;
      },
      { retryOn: [status.UNAVAILABLE], timeoutMs: 30_000 },
    );
  }

  const deviceList = (accountId: string) =>
    linking.call<GetDeviceListResponse>('GetDeviceList', { accountId }, a.primary.token);

  /** A message from A's primary to B: one envelope for each of B's devices and A's other ones. */
  async function messageToB(clientMessageId = randomUUID()): Promise<SendRequest> {
    const [recipient, own] = await Promise.all([deviceList(b.accountId), deviceList(a.accountId)]);
    return {
      recipientAccountId: b.accountId,
      clientMessageId,
      recipientListVersion: recipient.listVersion,
      envelopes: [
        ...recipient.devices.map((device) => envelope(clientMessageId, b.accountId, device)),
        ...own.devices
          .filter((device) => device.deviceId !== a.primary.deviceId)
          .map((device) => envelope(clientMessageId, a.accountId, device)),
      ],
    };
  }

  const send = (request: SendRequest, token = a.primary.token) =>
    fanout.call<SendResponse>('Send', request, token);

  /** The server message ids of the message entries every open stream has received so far. */
  const deliveredMessageIds = () =>
    [...a.devices, ...b.devices].map((device) => streams.get(device)?.messageIds());

  beforeAll(async () => {
    const { kafkaBrokers, mongoUri } = testInfrastructure();
    const env = {
      KAFKA_BROKERS: kafkaBrokers.join(','),
      MONGODB_URI: mongoUri,
      TANDEM_MONGODB_DATABASE_PREFIX: prefix,
      TANDEM_TOPIC_PREFIX: `${prefix}.`,
      TANDEM_TOPIC_PARTITIONS: '3',
    };
    const tokenPublicKey = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const start = async (app: string, extra: Record<string, string>) => {
      const started = await startServiceProcess(app, { ...env, ...extra });
      processes.push(started);
      return started;
    };
    const [accountsProcess, linkingProcess, fanoutProcess] = await Promise.all([
      start('accounts', { TANDEM_TOKEN_PUBLIC_KEY: tokenPublicKey }),
      start('linking', {
        TANDEM_TOKEN_PRIVATE_KEY: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
        TANDEM_LINK_RATE_LIMIT: '50',
      }),
      start('fanout', { TANDEM_TOKEN_PUBLIC_KEY: tokenPublicKey, TANDEM_SEND_RATE_LIMIT: '1000' }),
    ]);
    accounts = new GrpcTestClient(
      accountsProcess.address,
      services.accounts.protoFile,
      services.accounts.name,
    );
    linking = new GrpcTestClient(linkingProcess.address, services.linking.protoFile, services.linking.name);
    fanout = new GrpcTestClient(fanoutProcess.address, services.fanout.protoFile, services.fanout.name);
    streamingClient = fanoutStreamingClient(fanoutProcess.address);

    [a, b] = await Promise.all([createAccount(), createAccount()]);
    latecomer = b.devices[4]!;
    await Promise.all(
      [...a.devices, ...b.devices]
        .filter((device) => device !== latecomer)
        .map((device) => openInbox(device)),
    );
  });

  afterAll(async () => {
    for (const stream of opened) stream.cancel();
    streamingClient?.close();
    for (const client of [fanout, linking, accounts]) client?.close();
    await Promise.all(processes.map((process) => process.stop()));
  });

  it("delivers each message once, in send order, to B's online devices and A's other devices", async () => {
    const first = await messageToB();
    sent.push({
      request: first,
      response: await eventually(() => send(first), {
        retryOn: [status.FAILED_PRECONDITION, status.UNAVAILABLE, status.NOT_FOUND],
        timeoutMs: 30_000,
      }),
    });
    for (let index = 0; index < 2; index++) {
      const request = await messageToB();
      sent.push({ request, response: await send(request) });
    }
    expect(sent.map(({ response }) => response.duplicate)).toEqual([false, false, false]);
    expect(new Set(sentIds()).size).toBe(3);

    const receivers = [...b.devices.filter((device) => device !== latecomer), ...a.devices.slice(1)];
    for (const device of receivers) {
      const stream = streams.get(device)!;
      const messages = await stream.until((items) => {
        const received = messagesOf(items);
        return sentIds().every((id) => received.some((entry) => entry.serverMessageId === id))
          ? received
          : undefined;
      });
      expect(messages.map(({ serverMessageId, message }) => ({ serverMessageId, message }))).toEqual(
        sent.map(({ request, response }) => ({
          serverMessageId: response.serverMessageId,
          message: {
            senderAccountId: a.accountId,
            senderDeviceId: a.primary.deviceId,
            recipientAccountId: b.accountId,
            serverTimestamp: response.serverTimestamp,
            type: EnvelopeType.ENVELOPE_TYPE_CIPHERTEXT,
            content: ciphertext(request.clientMessageId, device.accountId, device.deviceId),
          },
        })),
      );
      expectGapFree(stream);
    }
    expect(streams.get(a.primary)!.messageIds()).toEqual([]);
  });

  it('delivers the backlog to a device that comes online, then marks it caught up', async () => {
    const stream = await openInbox(latecomer);
    const backlog = stream.backlog();
    expect(backlog.entries.filter((entry) => entry.message).map((entry) => entry.serverMessageId)).toEqual(
      sentIds(),
    );
    expect(backlog.lastSequence).toBe(backlog.entries.at(-1)!.sequence);
    expectGapFree(stream);
  });

  it("removes acked messages from the inbox and sends delivery receipts to every one of A's devices", async () => {
    for (const device of b.devices) {
      expect(await fanout.call<AckResponse>('Ack', { serverMessageIds: sentIds() }, device.token)).toEqual({
        ackedCount: 3,
      });
    }

    for (const device of a.devices) {
      const stream = streams.get(device)!;
      const receipts = await stream.until((items) => {
        const received = receiptsOf(items).filter((receipt) => receipt.recipientAccountId === b.accountId);
        const covered = b.devices.every((acking) =>
          sentIds().every((id) =>
            received.some(
              (receipt) =>
                receipt.recipientDeviceId === acking.deviceId && receipt.serverMessageIds.includes(id),
            ),
          ),
        );
        return covered ? received : undefined;
      });
      for (const acking of b.devices) {
        const fromDevice = receipts.filter((receipt) => receipt.recipientDeviceId === acking.deviceId);
        expect(fromDevice.flatMap((receipt) => receipt.serverMessageIds)).toEqual(sentIds());
        for (const receipt of fromDevice) expect(receipt.deliveredAt).toBeTruthy();
      }
      expectGapFree(stream);
    }

    const before = streams.get(latecomer)!;
    before.cancel();
    const unacked = before
      .entries()
      .filter((entry) => !sentIds().includes(entry.serverMessageId))
      .map((entry) => entry.serverMessageId);
    await eventually(async () => {
      const stream = await openInbox(latecomer);
      const backlog = stream.backlog().entries.map((entry) => entry.serverMessageId);
      try {
        expect(backlog.filter((id) => sentIds().includes(id))).toEqual([]);
        expect(backlog).toEqual(expect.arrayContaining(unacked));
      } catch (error) {
        stream.cancel();
        throw error;
      }
    });
  });

  it("refuses a send that does not cover exactly B's current devices, delivering nothing", async () => {
    const list = await deviceList(b.accountId);
    const request = await messageToB();
    const wrong: SendRequest = {
      ...request,
      envelopes: [
        ...request.envelopes
          .filter((envelope) => envelope.accountId !== b.accountId || envelope.deviceId !== 3)
          .map((envelope) =>
            envelope.accountId === b.accountId && envelope.deviceId === 2
              ? { ...envelope, registrationId: envelope.registrationId + 1 }
              : envelope,
          ),
        { ...request.envelopes[0]!, deviceId: 99 },
      ],
    };
    const before = deliveredMessageIds();

    const refused = await grpcFailure(send(wrong));
    expect(refused.code).toBe(status.FAILED_PRECONDITION);
    const details = refused.metadata.get('tandem-details')[0];
    const mismatch = JSON.parse(String(details)) as CoverageMismatch;
    expect(mismatch.accounts.map((account) => account.accountId)).toEqual([b.accountId]);
    expect(mismatch.accounts[0]).toMatchObject({
      accountId: b.accountId,
      missingDeviceIds: [3],
      extraDeviceIds: [99],
      staleDeviceIds: [2],
    });
    expect(Number(mismatch.accounts[0]!.listVersion)).toBe(list.listVersion);

    await sleep(1_000);
    expect(deliveredMessageIds()).toEqual(before);
  });

  it('answers a repeated send with the first result, delivering nothing again', async () => {
    const before = deliveredMessageIds();
    const { request, response } = sent[2]!;
    expect(await send(request)).toEqual({ ...response, duplicate: true });

    await sleep(1_000);
    expect(deliveredMessageIds()).toEqual(before);
  });

  it("carries a profile update to every one of A's devices as a system entry", async () => {
    const displayName = 'Ada Lovelace';
    await eventually(
      () => accounts.call('UpdateProfile', { accountId: a.accountId, displayName }, a.primary.token),
      { retryOn: [status.UNAVAILABLE] },
    );

    const updates: string[] = [];
    for (const device of a.devices) {
      const stream = streams.get(device)!;
      const update = await stream.until((items) =>
        entriesOf(items).find(
          (entry) => entry.system?.kind === SystemEntryKind.SYSTEM_ENTRY_KIND_PROFILE_UPDATED,
        ),
      );
      expect(update.system!.payloadType).toMatch(/^tandem\.accounts\.v1\./);
      expect(Buffer.from(update.system!.payload).includes(displayName)).toBe(true);
      updates.push(update.system!.sourceEventId);
      expectGapFree(stream);
    }
    expect(updates[0]).not.toBe('');
    expect(new Set(updates).size).toBe(1);
  });

  it('refuses a send without a token, to an unknown account, or with a ciphertext over 96 KiB', async () => {
    const withoutToken = await grpcFailure(fanout.call('Send', await messageToB()));
    expect(withoutToken.code).toBe(status.UNAUTHENTICATED);

    const toNobody = await messageToB();
    const nobody = randomUUID();
    const unknownAccount = await grpcFailure(
      send({
        ...toNobody,
        recipientAccountId: nobody,
        recipientListVersion: 1,
        envelopes: [
          { ...toNobody.envelopes[0]!, accountId: nobody, deviceId: 1 },
          ...toNobody.envelopes.filter((envelope) => envelope.accountId === a.accountId),
        ],
      }),
    );
    expect(unknownAccount.code).toBe(status.NOT_FOUND);

    const oversized = await messageToB();
    oversized.envelopes[0] = { ...oversized.envelopes[0]!, content: Buffer.alloc(96 * 1024 + 1, 7) };
    expect((await grpcFailure(send(oversized))).code).toBe(status.INVALID_ARGUMENT);
  });

  it("ends a device's stream with superseded when the device opens a second one", async () => {
    const device = a.devices[1]!;
    const first = streams.get(device)!;
    const second = await openInbox(device);
    await first.closed();
    expect(first.items.at(-1)).toMatchObject({ superseded: {} });
    expect([undefined, status.ABORTED]).toContain(first.error?.code);
    expect(second.backlog().entries.map((entry) => entry.serverMessageId)).toEqual(
      expect.arrayContaining(first.entries().map((entry) => entry.serverMessageId)),
    );
  });
});
