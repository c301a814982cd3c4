import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ClientDuplexStream, Metadata, type ServiceError, status } from '@grpc/grpc-js';
import type {
  ConnectRequest,
  ConnectResponse,
  SendResponse,
} from '@tandem/contracts/tandem/fanout/v1/fanout_service';
import type { GetDeviceListResponse } from '@tandem/contracts/tandem/linking/v1/linking_service';
import type { SubscribeResponse } from '@tandem/contracts/tandem/presence/v1/presence_service';
import {
  CollectedStream,
  createTestAccount,
  eventually,
  type FanoutStreamingClient,
  fanoutStreamingClient,
  GrpcTestClient,
  type InboxStream,
  messagesOf,
  openInboxStream,
  type PresenceStreamingClient,
  presenceStreamingClient,
  services,
  type SignedInDevice,
  signDeviceList,
  startServiceProcess,
  TestInstallation,
  testMessage,
} from '@tandem/harness';
import { testInfrastructure, uniqueName } from '@tandem/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** Where the tests find Tandem: its unary clients, and the streaming clients of each fanout instance. */
interface Deployment {
  readonly accounts: GrpcTestClient;
  readonly linking: GrpcTestClient;
  readonly fanout: GrpcTestClient;
  /** One per fanout instance. */
  readonly inboxes: readonly FanoutStreamingClient[];
  readonly presence: PresenceStreamingClient;
  stop(): Promise<void>;
}

/** Accounts, linking, presence and two fanout instances as processes on Kafka and MongoDB. */
async function distributed(): Promise<Deployment> {
  const installation = new TestInstallation(uniqueName('e2e_departures'), testInfrastructure());
  const [accounts, linking, presence, ...fanouts] = await Promise.all([
    installation.start('accounts'),
    installation.start('linking', installation.signingKeyEnv),
    installation.start('presence'),
    installation.start('fanout'),
    installation.start('fanout'),
  ]);
  return {
    accounts: installation.client(accounts!, services.accounts),
    linking: installation.client(linking!, services.linking),
    fanout: installation.client(fanouts[0]!, services.fanout),
    inboxes: fanouts.map((process) => installation.connect(process, fanoutStreamingClient)),
    presence: installation.connect(presence!, presenceStreamingClient),
    stop: () => installation.stop(),
  };
}

/** Every service in one process (`npm start`) on the embedded log and stores. */
async function embedded(): Promise<Deployment> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tandem-e2e-'));
  const tandem = await startServiceProcess('tandem', { TANDEM_DATA_DIR: dataDir });
  const client = (service: (typeof services)[keyof typeof services]) =>
    new GrpcTestClient(tandem.address, service);
  const clients = {
    accounts: client(services.accounts),
    linking: client(services.linking),
    fanout: client(services.fanout),
    inboxes: [fanoutStreamingClient(tandem.address)],
    presence: presenceStreamingClient(tandem.address),
  };
  return {
    ...clients,
    async stop() {
      for (const closable of [clients.accounts, clients.linking, clients.fanout, clients.presence])
        closable.close();
      for (const inbox of clients.inboxes) inbox.close();
      await tandem.stop('SIGTERM');
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

const bearer = (token: string): Metadata => {
  const metadata = new Metadata();
  metadata.set('authorization', `Bearer ${token}`);
  return metadata;
};

/** A device's Connect call, opened from the start of its inbox, its responses collected. */
class ConnectStream extends CollectedStream<ConnectResponse> {
  constructor(client: FanoutStreamingClient, token: string) {
    const call = (
      client as unknown as {
        Connect(metadata: Metadata): ClientDuplexStream<ConnectRequest, ConnectResponse>;
      }
    ).Connect(bearer(token));
    super(call as never);
    call.write({ frame: { $case: 'open', value: { afterSequence: 0 } } });
  }
}

/** Opens a Connect and waits for its caught_up, again while fanout does not know the device yet. */
const openConnect = (client: FanoutStreamingClient, token: string) =>
  eventually(
    async () => {
      const stream = new ConnectStream(client, token);
      await stream.until((items) => (items.some((item) => item.caughtUp) ? true : undefined));
      return stream;
    },
    { retryOn: [status.UNAVAILABLE], timeoutMs: 30_000 },
  );

/** Subscribes to presence and waits for the snapshot, again while presence does not know the device yet. */
const subscribe = (client: PresenceStreamingClient, token: string, accountIds: string[]) =>
  eventually(
    async () => {
      const stream = new CollectedStream<SubscribeResponse>(client.Subscribe({ accountIds }, bearer(token)));
      await stream.until((items) => items[0]);
      return stream;
    },
    { retryOn: [status.UNAVAILABLE], timeoutMs: 30_000 },
  );

/** Waits for the stream to end and returns its status; it must end with an error status. */
async function endedWith<T>(stream: CollectedStream<T>): Promise<ServiceError> {
  await stream.closed(20_000);
  expect(stream.error, `the stream ended without a status: ${stream.describe()}`).toBeDefined();
  return stream.error!;
}

describe.each([
  {
    mode: 'distributed: two fanout instances, services as processes on Kafka and MongoDB',
    setUp: distributed,
  },
  { mode: 'embedded: npm start, one process', setUp: embedded },
])('a device that leaves is cut off at once: $mode', ({ setUp }) => {
  let tandem: Deployment;
  const opened: { cancel(): void }[] = [];
  /** The fanout instance a test opens a stream on: the last one, or the only one. */
  const instance = (index: number) => tandem.inboxes[index % tandem.inboxes.length]!;
  const inbox = async (device: SignedInDevice, index: number): Promise<InboxStream> => {
    const stream = await openInboxStream(instance(index), device.token, { timeoutMs: 30_000 });
    opened.push(stream);
    return stream;
  };

  beforeAll(async () => {
    tandem = await setUp();
  });

  afterAll(async () => {
    for (const stream of opened) stream.cancel();
    await tandem?.stop();
  });

  it("ends an unlinked companion's inbox stream and presence subscription with UNAUTHENTICATED, and only those", async () => {
    const a = await createTestAccount(tandem.accounts, tandem.linking, 2);
    const b = await createTestAccount(tandem.accounts, tandem.linking, 0);
    const [, leaving, staying] = a.devices as [SignedInDevice, SignedInDevice, SignedInDevice];
    const leavingInbox = await inbox(leaving, 0);
    const stayingInbox = await inbox(staying, 1);
    const leavingPresence = await subscribe(tandem.presence, leaving.token, [b.accountId]);
    opened.push(leavingPresence);

    const list = await tandem.linking.call<GetDeviceListResponse>(
      'GetDeviceList',
      { accountId: a.accountId },
      a.primary.token,
    );
    const remaining = list.devices.filter((device) => device.deviceId !== leaving.deviceId);
    await tandem.linking.call(
      'UnlinkDevice',
      {
        accountId: a.accountId,
        deviceId: leaving.deviceId,
        listVersion: list.listVersion + 1,
        listSignature: signDeviceList(a.primary.keys, a.accountId, list.listVersion + 1, remaining),
      },
      a.primary.token,
    );

    for (const stream of [leavingInbox, leavingPresence] as CollectedStream<object>[]) {
      const ended = await endedWith(stream);
      expect(ended.code).toBe(status.UNAUTHENTICATED);
      expect(ended.details).toBe('device unlinked by the primary');
    }
    const itemsAtEnd = leavingInbox.items.length;

    const request = await testMessage(tandem.linking, b.primary, a.accountId, randomUUID());
    const sent = await eventually(() => tandem.fanout.call<SendResponse>('Send', request, b.primary.token), {
      retryOn: [status.FAILED_PRECONDITION],
      timeoutMs: 30_000,
    });
    await stayingInbox.until((items) =>
      messagesOf(items).some((entry) => entry.serverMessageId === sent.serverMessageId) ? true : undefined,
    );
    expect(stayingInbox.ended).toBe(false);
    expect(leavingInbox.items).toHaveLength(itemsAtEnd);

    const again = new CollectedStream<SubscribeResponse>(
      tandem.presence.Subscribe({ accountIds: [b.accountId] }, bearer(leaving.token)),
    );
    opened.push(again);
    expect((await endedWith(again)).code).toBe(status.UNAUTHENTICATED);
  });

  it('ends every stream of every device of a deleted account with UNAUTHENTICATED "account deleted"', async () => {
    const a = await createTestAccount(tandem.accounts, tandem.linking, 1);
    const b = await createTestAccount(tandem.accounts, tandem.linking, 0);
    const [primary, companion] = a.devices as [SignedInDevice, SignedInDevice];
    const primaryConnect = await openConnect(instance(1), primary.token);
    opened.push(primaryConnect);
    const companionInbox = await inbox(companion, 0);
    const companionPresence = await subscribe(tandem.presence, companion.token, [b.accountId]);
    opened.push(companionPresence);
    const bystander = await inbox(b.primary, 0);

    await tandem.accounts.call('DeleteAccount', { accountId: a.accountId }, primary.token);

    for (const stream of [primaryConnect, companionInbox, companionPresence] as CollectedStream<object>[]) {
      const ended = await endedWith(stream);
      expect(ended.code).toBe(status.UNAUTHENTICATED);
      expect(ended.details).toBe('account deleted');
    }
    const itemsAtEnd = [primaryConnect, companionInbox].map((stream) => stream.items.length);
    await sleep(500);
    expect([primaryConnect, companionInbox].map((stream) => stream.items.length)).toEqual(itemsAtEnd);
    expect(bystander.ended).toBe(false);
  });
});
