import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import type { SendResponse } from '@tandem/contracts/grpc/tandem/fanout/v1/fanout_service';
import {
  createTestAccount,
  eventually,
  type FanoutStreamingClient,
  fanoutStreamingClient,
  GrpcTestClient,
  type InboxStream,
  openInboxStream,
  type ServiceProcess,
  services,
  type SignedInDevice,
  startServiceProcess,
  type TestAccount,
  testMessage,
} from '@tandem/harness';
import { testInfrastructure, uniqueName } from '@tandem/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * Two fan-out instances behind one installation, as Kubernetes runs them: a device's stream may be
 * on either, whichever consumes its account's partition writes its inbox, and the signals between
 * them wake the stream and end a device's older stream on the other instance.
 */
describe('fan-out with two instances, services as processes on Kafka and MongoDB', () => {
  const prefix = uniqueName('e2e_fanout_instances');
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const processes: ServiceProcess[] = [];
  const clients: GrpcTestClient[] = [];
  const streamingClients: FanoutStreamingClient[] = [];
  const opened: InboxStream[] = [];
  let linking: GrpcTestClient;
  let instances: { fanout: GrpcTestClient; streaming: FanoutStreamingClient }[];
  let a: TestAccount;
  let b: TestAccount;

  const openInbox = async (device: SignedInDevice, instance: number) => {
    const stream = await openInboxStream(instances[instance]!.streaming, device.token);
    opened.push(stream);
    return stream;
  };

  beforeAll(async () => {
    const { kafkaBrokers, mongoUri } = testInfrastructure();
    const env = {
      KAFKA_BROKERS: kafkaBrokers.join(','),
      MONGODB_URI: mongoUri,
      TANDEM_MONGODB_DATABASE_PREFIX: prefix,
      TANDEM_TOPIC_PREFIX: `${prefix}.`,
      TANDEM_TOPIC_PARTITIONS: '6',
    };
    const tokenPublicKey = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const start = async (app: string, extra: Record<string, string>) => {
      const started = await startServiceProcess(app, { ...env, ...extra });
      processes.push(started);
      return started;
    };
    const fanoutEnv = { TANDEM_TOKEN_PUBLIC_KEY: tokenPublicKey, TANDEM_SEND_RATE_LIMIT: '1000' };
    const [accountsProcess, linkingProcess, ...fanoutProcesses] = await Promise.all([
      start('accounts', { TANDEM_TOKEN_PUBLIC_KEY: tokenPublicKey }),
      start('linking', {
        TANDEM_TOKEN_PRIVATE_KEY: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
        TANDEM_LINK_RATE_LIMIT: '50',
      }),
      start('fanout', fanoutEnv),
      start('fanout', fanoutEnv),
    ]);
    const client = (address: string, service: (typeof services)[keyof typeof services]) => {
      const created = new GrpcTestClient(address, service.protoFile, service.name);
      clients.push(created);
      return created;
    };
    const accounts = client(accountsProcess!.address, services.accounts);
    linking = client(linkingProcess!.address, services.linking);
    instances = fanoutProcesses.map((process) => {
      const streaming = fanoutStreamingClient(process.address);
      streamingClients.push(streaming);
      return { fanout: client(process.address, services.fanout), streaming };
    });
    [a, b] = await Promise.all([
      createTestAccount(accounts, linking, 1),
      createTestAccount(accounts, linking, 2),
    ]);
  });

  afterAll(async () => {
    for (const stream of opened) stream.cancel();
    for (const streaming of streamingClients) streaming.close();
    for (const client of clients) client.close();
    await Promise.all(processes.map((process) => process.stop()));
  });

  it('delivers to streams on either instance what was sent through either, each once and in order', async () => {
    const receivers = [...b.devices, a.devices[1]!];
    const streams = await Promise.all(receivers.map((device, index) => openInbox(device, index % 2)));

    const sent: SendResponse[] = [];
    for (let index = 0; index < 10; index++) {
      const request = await testMessage(linking, a.primary, b.accountId, randomUUID());
      const { fanout } = instances[index % 2]!;
      sent.push(
        await eventually(() => fanout.call<SendResponse>('Send', request, a.primary.token), {
          retryOn: [status.FAILED_PRECONDITION, status.UNAVAILABLE, status.NOT_FOUND],
          timeoutMs: 30_000,
        }),
      );
    }
    const ids = sent.map((response) => response.serverMessageId);

    for (const stream of streams) {
      const received = await stream.until(() => {
        const messages = stream.messageIds();
        return ids.every((id) => messages.includes(id)) ? messages : undefined;
      }, 30_000);
      expect(received).toEqual(ids);
      const sequences = stream.entries().map((entry) => entry.sequence);
      expect(sequences).toEqual(sequences.map((_, index) => index + 1));
    }
  });

  it("ends a device's stream on one instance when the device opens another on the other", async () => {
    const device = b.devices[2]!;
    const first = await openInbox(device, 0);
    await openInbox(device, 1);
    await first.until((items) => items.find((item) => item.superseded), 15_000);
    await first.closed();
    expect(first.error?.code ?? status.ABORTED).toBe(status.ABORTED);
  });
});
