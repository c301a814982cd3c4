import { type Metadata, status } from '@grpc/grpc-js';
import type { RegisterResponse } from '@tandem/contracts/tandem/accounts/v1/accounts_service';
import type {
  BeginLinkResponse,
  CreateSignInChallengeResponse,
} from '@tandem/contracts/tandem/linking/v1/linking_service';
import { RETRY_AFTER_METADATA_KEY } from '@tandem/grpc';
import {
  eventually,
  type GrpcTestClient,
  newDevice,
  newPhoneNumber,
  services,
  TestInstallation,
} from '@tandem/harness';
import { testInfrastructure, uniqueName } from '@tandem/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const LIMIT = 4;

/**
 * Two linking instances behind one installation, as the HorizontalPodAutoscaler runs them: the
 * rate limits are kept in the service's database, so a client spreading its calls over both
 * instances gets the budget once, not once per instance.
 */
describe('rate limits with two linking instances, services as processes on Kafka and MongoDB', () => {
  const installation = new TestInstallation(uniqueName('e2e_linking_instances'), testInfrastructure());
  let instances: GrpcTestClient[];
  let accounts: GrpcTestClient;

  beforeAll(async () => {
    const env = {
      ...installation.signingKeyEnv,
      TANDEM_LINK_RATE_LIMIT: String(LIMIT),
      // Windows are aligned to the epoch: one this long is not crossed during the test.
      TANDEM_LINK_RATE_WINDOW_SECONDS: '1000000',
      TANDEM_SIGN_IN_RATE_LIMIT: String(LIMIT),
      TANDEM_SIGN_IN_RATE_WINDOW_SECONDS: '1000000',
    };
    const [accountsProcess, ...processes] = await Promise.all([
      installation.start('accounts'),
      installation.start('linking', env),
      installation.start('linking', env),
    ]);
    accounts = installation.client(accountsProcess!, services.accounts);
    instances = processes.map((process) => installation.client(process, services.linking));
  });

  afterAll(async () => {
    await installation.stop();
  });

  /** The call's answer: OK, or RESOURCE_EXHAUSTED with a retry delay, or another status when `other`. */
  const answer = async (call: Promise<unknown>, other?: status) => {
    try {
      await call;
      return 'OK';
    } catch (error) {
      if (other !== undefined && (error as { code: status }).code === other) return status[other];
      const { code, metadata } = error as { code: status; metadata: Metadata };
      expect(code).toBe(status.RESOURCE_EXHAUSTED);
      expect(Number(metadata.get(RETRY_AFTER_METADATA_KEY)[0])).toBeGreaterThan(0);
      return 'RESOURCE_EXHAUSTED';
    }
  };

  const beginLink = (linking: GrpcTestClient) => {
    const companion = newDevice();
    return answer(
      linking.call<BeginLinkResponse>('BeginLink', {
        identityKey: companion.identityKey,
        registrationId: companion.registrationId,
      }),
    );
  };

  it('accepts as many link sessions from one address as the limit over both instances together, then refuses them on both', async () => {
    const answers: string[] = [];
    for (let index = 0; index < 3 * LIMIT; index++) answers.push(await beginLink(instances[index % 2]!));
    expect(answers).toEqual([
      ...Array<string>(LIMIT).fill('OK'),
      ...Array<string>(2 * LIMIT).fill('RESOURCE_EXHAUSTED'),
    ]);
  });

  it("counts one device's sign-in attempts over both instances together, then refuses them on both", async () => {
    const phone = newDevice();
    const { accountId } = await accounts.call<RegisterResponse>('Register', {
      phoneNumber: newPhoneNumber(),
      identityKey: phone.identityKey,
      registrationId: phone.registrationId,
      deviceName: 'Pixel 9',
    });
    const { challenge } = await eventually(() =>
      instances[0]!.call<CreateSignInChallengeResponse>('CreateSignInChallenge', { accountId, deviceId: 1 }),
    );
    const answers: string[] = [];
    for (let index = 0; index < 3 * LIMIT; index++) {
      const attempt = instances[index % 2]!.call('SignIn', {
        accountId,
        deviceId: 1,
        challenge,
        signature: Buffer.alloc(64, index),
      });
      answers.push(await answer(attempt, status.UNAUTHENTICATED));
    }
    expect(answers).toEqual([
      ...Array<string>(LIMIT).fill('UNAUTHENTICATED'),
      ...Array<string>(2 * LIMIT).fill('RESOURCE_EXHAUSTED'),
    ]);
  });
});
