import { randomUUID } from 'node:crypto';
import { type Metadata, status } from '@grpc/grpc-js';
import { RETRY_AFTER_METADATA_KEY } from '@tandem/grpc';
import {
  createTestAccount,
  eventually,
  type GrpcTestClient,
  services,
  type TestAccount,
  TestInstallation,
  testMessage,
} from '@tandem/harness';
import { testInfrastructure, uniqueName } from '@tandem/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const LIMIT = 5;

/**
 * The send rate limit with two fan-out instances, as the HorizontalPodAutoscaler runs them: it is
 * kept in fanout's database, so a device spreading its Sends over both instances gets its budget
 * once, not once per instance.
 */
describe('the send rate limit with two fan-out instances, services as processes on Kafka and MongoDB', () => {
  const installation = new TestInstallation(uniqueName('e2e_fanout_rate_limit'), testInfrastructure());
  let linking: GrpcTestClient;
  let instances: GrpcTestClient[];
  let sender: TestAccount;
  let recipient: TestAccount;

  beforeAll(async () => {
    const fanoutEnv = {
      TANDEM_SEND_RATE_LIMIT: String(LIMIT),
      // Windows are aligned to the epoch: one this long is not crossed during the test.
      TANDEM_SEND_RATE_WINDOW_SECONDS: '1000000',
    };
    const [accountsProcess, linkingProcess, ...fanoutProcesses] = await Promise.all([
      installation.start('accounts'),
      installation.start('linking', installation.signingKeyEnv),
      installation.start('fanout', fanoutEnv),
      installation.start('fanout', fanoutEnv),
    ]);
    const accounts = installation.client(accountsProcess!, services.accounts);
    linking = installation.client(linkingProcess!, services.linking);
    instances = fanoutProcesses.map((process) => installation.client(process, services.fanout));
    [sender, recipient] = await Promise.all([
      createTestAccount(accounts, linking),
      createTestAccount(accounts, linking),
    ]);
    // Until an instance has learned of a device it answers UNAUTHENTICATED, spending nothing.
    for (const fanout of instances) {
      for (const { primary } of [sender, recipient]) {
        await eventually(() => fanout.call('GetInboxStatus', {}, primary.token));
      }
    }
  });

  afterAll(async () => {
    await installation.stop();
  });

  it('accepts as many Sends from one device as the limit over both instances together, then refuses them on both', async () => {
    const message = await testMessage(linking, sender.primary, recipient.accountId, randomUUID());
    const answers: string[] = [];
    for (let index = 0; index < 3 * LIMIT; index++) {
      const fanout = instances[index % 2]!;
      try {
        await fanout.call('Send', { ...message, clientMessageId: randomUUID() }, sender.primary.token);
        answers.push('OK');
      } catch (error) {
        const { code, metadata } = error as { code: status; metadata: Metadata };
        if (code === status.RESOURCE_EXHAUSTED) {
          expect(Number(metadata.get(RETRY_AFTER_METADATA_KEY)[0])).toBeGreaterThan(0);
        }
        answers.push(status[code]);
      }
    }
    // FAILED_PRECONDITION: the instance had not seen the recipient's device list yet, and the Send
    // was counted all the same.
    const spent = answers.slice(0, LIMIT);
    expect(spent.filter((answer) => answer !== 'OK' && answer !== 'FAILED_PRECONDITION')).toEqual([]);
    expect(spent).toContain('OK');
    expect(answers.slice(LIMIT)).toEqual(Array<string>(2 * LIMIT).fill('RESOURCE_EXHAUSTED'));
  });
});
