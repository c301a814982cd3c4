import { randomUUID } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import type { SendResponse } from '@tandem/contracts/tandem/fanout/v1/fanout_service';
import {
  createTestAccount,
  eventually,
  fanoutStreamingClient,
  type FanoutStreamingClient,
  type GrpcTestClient,
  type InboxStream,
  oneofValue,
  openInboxStream,
  services,
  type SignedInDevice,
  type TestAccount,
  TestInstallation,
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
  const installation = new TestInstallation(uniqueName('e2e_fanout_instances'), testInfrastructure(), {
    partitions: 6,
  });
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
    const fanoutEnv = { TANDEM_SEND_RATE_LIMIT: '1000' };
    const [accountsProcess, linkingProcess, ...fanoutProcesses] = await Promise.all([
      installation.start('accounts'),
      installation.start('linking', { ...installation.signingKeyEnv, TANDEM_LINK_RATE_LIMIT: '50' }),
      installation.start('fanout', fanoutEnv),
      installation.start('fanout', fanoutEnv),
    ]);
    const accounts = installation.client(accountsProcess!, services.accounts);
    linking = installation.client(linkingProcess!, services.linking);
    instances = fanoutProcesses.map((process) => ({
      fanout: installation.client(process, services.fanout),
      streaming: installation.connect(process, fanoutStreamingClient),
    }));
    [a, b] = await Promise.all([
      createTestAccount(accounts, linking, 1),
      createTestAccount(accounts, linking, 2),
    ]);
  });

  afterAll(async () => {
    for (const stream of opened) stream.cancel();
    await installation.stop();
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
    await first.until((items) => items.find((item) => oneofValue(item.item, 'superseded')), 15_000);
    await first.closed();
    expect(first.error?.code ?? status.ABORTED).toBe(status.ABORTED);
  });
});
