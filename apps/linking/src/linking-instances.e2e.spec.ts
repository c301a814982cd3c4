import { type Metadata, status } from '@grpc/grpc-js';
import type { BeginLinkResponse } from '@tandem/contracts/grpc/tandem/linking/v1/linking_service';
import { RETRY_AFTER_METADATA_KEY } from '@tandem/grpc';
import { type GrpcTestClient, newDevice, services, TestInstallation } from '@tandem/harness';
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

  beforeAll(async () => {
    const env = {
      ...installation.signingKeyEnv,
      TANDEM_LINK_RATE_LIMIT: String(LIMIT),
      // Windows are aligned to the epoch: one this long is not crossed during the test.
      TANDEM_LINK_RATE_WINDOW_SECONDS: '1000000',
    };
    const processes = await Promise.all([
      installation.start('linking', env),
      installation.start('linking', env),
    ]);
    instances = processes.map((process) => installation.client(process, services.linking));
  });

  afterAll(async () => {
    await installation.stop();
  });

  const beginLink = async (linking: GrpcTestClient) => {
    const companion = newDevice();
    try {
      await linking.call<BeginLinkResponse>('BeginLink', {
        identityKey: companion.identityKey,
        registrationId: companion.registrationId,
      });
      return 'OK';
    } catch (error) {
      const { code, metadata } = error as { code: status; metadata: Metadata };
      expect(code).toBe(status.RESOURCE_EXHAUSTED);
      expect(Number(metadata.get(RETRY_AFTER_METADATA_KEY)[0])).toBeGreaterThan(0);
      return 'RESOURCE_EXHAUSTED';
    }
  };

  it('accepts as many link sessions from one address as the limit over both instances together, then refuses them on both', async () => {
    const answers: string[] = [];
    for (let index = 0; index < 3 * LIMIT; index++) answers.push(await beginLink(instances[index % 2]!));
    expect(answers).toEqual([
      ...Array<string>(LIMIT).fill('OK'),
      ...Array<string>(2 * LIMIT).fill('RESOURCE_EXHAUSTED'),
    ]);
  });
});
