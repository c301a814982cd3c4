import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ClientDuplexStream, Metadata, type ServiceError, status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  AckResponse,
  ConnectRequest,
  ConnectResponse,
  CoverageMismatch,
  GetInboxStatusResponse,
  SendRequest,
  SendResponse,
} from '@tandem/contracts/tandem/fanout/v1/fanout_service';
import { EnvelopeType, SystemEntryKind } from '@tandem/contracts/tandem/fanout/v1/inbox';
import type { GetDeviceListResponse } from '@tandem/contracts/tandem/linking/v1/linking_service';
import {
  createTestAccount,
  entriesOf,
  eventually,
  fanoutStreamingClient,
  type FanoutStreamingClient,
  grpcFailure,
  type GrpcTestClient,
  type InboxStream,
  messagesOf,
  oneofValue,
  openInboxStream,
  receiptsOf,
  services,
  type SignedInDevice,
  type TestAccount,
  testCiphertext,
  TestInstallation,
  testMessage,
} from '@tandem/harness';
import { testInfrastructure, uniqueName } from '@tandem/testing';

type Device = SignedInDevice;

/** The entries a stream saw from afterSequence 0 are numbered 1, 2, 3 ... without a gap. */
function expectGapFree(stream: InboxStream) {
  const sequences = stream.entries().map((entry) => entry.sequence);
  expect(sequences).toEqual(sequences.map((_, index) => index + 1));
}

/**
 * Fan-out with accounts, linking and fanout as processes on Kafka and MongoDB: two accounts of a
 * primary and four companions each; A's primary sends B three messages that reach each of B's
 * devices and A's other devices once and in order, online or later from the backlog; acks empty
 * the inbox and send receipts to all of A's devices; sends that miss devices or repeat are
 * refused or answered without delivering again; profile updates reach all of A's devices; a
 * second stream for a device ends the first.
 */
describe('fanning out messages, services as processes on Kafka and MongoDB', () => {
  const installation = new TestInstallation(uniqueName('e2e_fanout'), testInfrastructure());
  let accounts: GrpcTestClient;
  let linking: GrpcTestClient;
  let fanout: GrpcTestClient;
  let streamingClient: FanoutStreamingClient;
  const opened: InboxStream[] = [];
  const streams = new Map<Device, InboxStream>();

  let a: TestAccount;
  let b: TestAccount;
  /** The device of B whose inbox is not streamed while A sends. */
  let latecomer: Device;
  const sent: { request: SendRequest; response: SendResponse }[] = [];
  const sentIds = () => sent.map(({ response }) => response.serverMessageId);

  /** Registers an account on a new phone and links four companions to it, all signed in. */
  const createAccount = () => createTestAccount(accounts, linking, 4);

  /**
   * Opens a device's inbox stream and waits for its caught_up, retrying while fanout's device
   * directory does not know the device yet.
   */
  async function openInbox(device: Device, afterSequence = 0): Promise<InboxStream> {
    const stream = await openInboxStream(streamingClient, device.token, { afterSequence });
    opened.push(stream);
    streams.set(device, stream);
    return stream;
  }

  /** A message from A's primary to B: one envelope for each of B's devices and A's other ones. */
  const messageToB = (clientMessageId = randomUUID()) =>
    testMessage(linking, a.primary, b.accountId, clientMessageId);

  const send = (request: SendRequest, token = a.primary.token) =>
    fanout.call<SendResponse>('Send', request, token);

  /** The server message ids of the message entries every open stream has received so far. */
  const deliveredMessageIds = () =>
    [...a.devices, ...b.devices].map((device) => streams.get(device)?.messageIds());

  beforeAll(async () => {
    const [accountsProcess, linkingProcess, fanoutProcess] = await Promise.all([
      installation.start('accounts'),
      installation.start('linking', { ...installation.signingKeyEnv, TANDEM_LINK_RATE_LIMIT: '50' }),
      installation.start('fanout', { TANDEM_SEND_RATE_LIMIT: '1000' }),
    ]);
    accounts = installation.client(accountsProcess, services.accounts);
    linking = installation.client(linkingProcess, services.linking);
    fanout = installation.client(fanoutProcess, services.fanout);
    streamingClient = installation.connect(fanoutProcess, fanoutStreamingClient);

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
    await installation.stop();
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
      expect(
        messages.map(({ serverMessageId, content }) => ({ serverMessageId, message: content?.value })),
      ).toEqual(
        sent.map(({ request, response }) => ({
          serverMessageId: response.serverMessageId,
          message: {
            senderAccountId: a.accountId,
            senderDeviceId: a.primary.deviceId,
            recipientAccountId: b.accountId,
            serverTimestamp: response.serverTimestamp,
            type: EnvelopeType.ENVELOPE_TYPE_CIPHERTEXT,
            content: testCiphertext(request.clientMessageId, device.accountId, device.deviceId),
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
    expect(
      backlog.entries
        .filter((entry) => oneofValue(entry.content, 'message'))
        .map((entry) => entry.serverMessageId),
    ).toEqual(sentIds());
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
    const list = await linking.call<GetDeviceListResponse>(
      'GetDeviceList',
      { accountId: b.accountId },
      a.primary.token,
    );
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
          (entry) =>
            oneofValue(entry.content, 'system')?.kind === SystemEntryKind.SYSTEM_ENTRY_KIND_PROFILE_UPDATED,
        ),
      );
      expect(oneofValue(update.content, 'system')!.payloadType).toMatch(/^tandem\.accounts\.v1\./);
      expect(Buffer.from(oneofValue(update.content, 'system')!.payload).includes(displayName)).toBe(true);
      updates.push(oneofValue(update.content, 'system')!.sourceEventId);
      expectGapFree(stream);
    }
    expect(updates[0]).not.toBe('');
    expect(new Set(updates).size).toBe(1);
  });

  it('refuses messages between A and B while B blocks A, and delivers again once B unblocks A', async () => {
    const blockChanges = (device: Device) =>
      streams
        .get(device)!
        .entries()
        .filter(
          (entry) =>
            oneofValue(entry.content, 'system')?.kind ===
            SystemEntryKind.SYSTEM_ENTRY_KIND_BLOCKED_ACCOUNTS_CHANGED,
        );
    /** Every device of B has seen `count` changes of its blocked accounts: fanout applied them. */
    const untilBlockChanges = async (count: number) => {
      for (const device of b.devices) {
        await streams.get(device)!.until(() => (blockChanges(device).length >= count ? true : undefined));
        expect(blockChanges(device)).toHaveLength(count);
      }
    };
    await accounts.call(
      'BlockAccount',
      { accountId: b.accountId, blockedAccountId: a.accountId },
      b.devices[2]!.token,
    );
    await untilBlockChanges(1);

    const before = deliveredMessageIds();
    const fromA = await grpcFailure(send(await messageToB()));
    expect(fromA.code).toBe(status.FAILED_PRECONDITION);
    expect(fromA.details).toMatch(/blocks messages from this account/);
    const fromB = await grpcFailure(
      send(await testMessage(linking, b.primary, a.accountId, randomUUID()), b.primary.token),
    );
    expect(fromB.code).toBe(status.FAILED_PRECONDITION);
    expect(fromB.details).toMatch(/unblock it to send/);
    await sleep(1_000);
    expect(deliveredMessageIds()).toEqual(before);

    await accounts.call(
      'UnblockAccount',
      { accountId: b.accountId, blockedAccountId: a.accountId },
      b.primary.token,
    );
    await untilBlockChanges(2);
    const { serverMessageId } = await send(await messageToB());
    for (const device of b.devices) {
      const stream = streams.get(device)!;
      await stream.until(() => (stream.messageIds().includes(serverMessageId) ? true : undefined));
    }
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
    expect(first.items.at(-1)).toMatchObject({ item: { $case: 'superseded', value: {} } });
    expect([undefined, status.ABORTED]).toContain(first.error?.code);
    expect(second.backlog().entries.map((entry) => entry.serverMessageId)).toEqual(
      expect.arrayContaining(first.entries().map((entry) => entry.serverMessageId)),
    );
  });

  it('streams a device its inbox on one Connect, several entries per response, and takes cumulative acks on it', async () => {
    const c = await createTestAccount(accounts, linking, 0);
    const ids: string[] = [];
    for (let index = 0; index < 3; index++) {
      const request = await testMessage(linking, a.primary, c.accountId, randomUUID());
      ids.push(
        (await eventually(() => send(request), { retryOn: [status.FAILED_PRECONDITION] })).serverMessageId,
      );
    }
    const metadata = new Metadata();
    metadata.set('authorization', `Bearer ${c.primary.token}`);
    const connect = () =>
      (
        streamingClient as unknown as {
          Connect(metadata: Metadata): ClientDuplexStream<ConnectRequest, ConnectResponse>;
        }
      ).Connect(metadata);
    const connection = connect();
    const responses: ConnectResponse[] = [];
    connection.on('data', (response: ConnectResponse) => responses.push(response));
    connection.on('error', () => undefined);
    connection.write({ frame: { $case: 'open', value: { afterSequence: 0 } } });

    const backlog = await eventually(async () => {
      const caughtUp = responses.findIndex((response) => response.caughtUp);
      const entries = responses
        .slice(0, caughtUp < 0 ? responses.length : caughtUp)
        .flatMap((response) => response.entries);
      expect(
        entries.filter((entry) => oneofValue(entry.content, 'message')).map((entry) => entry.serverMessageId),
      ).toEqual(ids);
      expect(caughtUp).toBeGreaterThanOrEqual(0);
      return entries;
    });
    expect(backlog.map((entry) => entry.sequence)).toEqual(backlog.map((_, index) => index + 1));
    expect(responses.some((response) => response.entries.length > 1)).toBe(true);
    expect(responses.find((response) => response.caughtUp)!.caughtUp!.lastSequence).toBe(
      backlog.at(-1)!.sequence,
    );

    connection.write({ frame: { $case: 'ack', value: { throughSequence: backlog.at(-1)!.sequence } } });
    await eventually(async () => {
      const inbox = await fanout.call<GetInboxStatusResponse>('GetInboxStatus', {}, c.primary.token);
      expect(inbox.depth).toBe(0);
      expect(inbox.lastSequence).toBe(backlog.at(-1)!.sequence);
    });
    for (const device of a.devices) {
      await streams
        .get(device)
        ?.until((items) =>
          receiptsOf(items).some(
            (receipt) =>
              receipt.recipientAccountId === c.accountId &&
              ids.every((id) => receipt.serverMessageIds.includes(id)),
          )
            ? true
            : undefined,
        );
    }
    connection.end();

    const beyond = connect();
    const failed = new Promise<ServiceError>((resolve) => beyond.on('error', resolve));
    beyond.on('data', (response: ConnectResponse) => {
      if (response.caughtUp) {
        beyond.write({
          frame: { $case: 'ack', value: { throughSequence: response.caughtUp.lastSequence + 100 } },
        });
      }
    });
    beyond.write({ frame: { $case: 'open', value: { afterSequence: 0 } } });
    expect((await failed).code).toBe(status.INVALID_ARGUMENT);
  });
});
