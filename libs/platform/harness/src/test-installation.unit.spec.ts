import { createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { GrpcTestClient, services } from './grpc-client';
import type { ServiceProcess } from './service-process';
import { TestInstallation } from './test-installation';

const infrastructure = {
  kafkaBrokers: ['127.0.0.1:9092', '127.0.0.1:9094'],
  mongoUri: 'mongodb://127.0.0.1:27017/?directConnection=true',
};

/** A process nothing listens for: clients of it are made, never called. */
const notStarted: ServiceProcess = {
  app: 'fanout',
  address: '127.0.0.1:1',
  output: () => '',
  stop: () => Promise.resolve(0),
};

describe('a test installation', () => {
  it('gives every process the infrastructure, its prefix for databases and topics, and its public key', () => {
    const installation = new TestInstallation('e2e_x_1234', infrastructure);
    expect(installation.env).toEqual({
      KAFKA_BROKERS: '127.0.0.1:9092,127.0.0.1:9094',
      MONGODB_URI: infrastructure.mongoUri,
      TANDEM_MONGODB_DATABASE_PREFIX: 'e2e_x_1234',
      TANDEM_TOPIC_PREFIX: 'e2e_x_1234.',
      TANDEM_TOPIC_PARTITIONS: '3',
      TANDEM_TOKEN_PUBLIC_KEY: expect.stringContaining('BEGIN PUBLIC KEY'),
    });
    expect(
      new TestInstallation('e2e_y', infrastructure, { partitions: 6 }).env['TANDEM_TOPIC_PARTITIONS'],
    ).toBe('6');
  });

  it('signs tokens with the private key that matches the public key of its processes', () => {
    const installation = new TestInstallation('e2e_x', infrastructure);
    const privateKey = createPrivateKey(installation.signingKeyEnv['TANDEM_TOKEN_PRIVATE_KEY']!);
    const publicKey = createPublicKey(installation.env['TANDEM_TOKEN_PUBLIC_KEY']!);
    const data = Buffer.from('device token');
    expect(verify(null, data, publicKey, sign(null, data, privateKey))).toBe(true);
    expect(new TestInstallation('e2e_y', infrastructure).env['TANDEM_TOKEN_PUBLIC_KEY']).not.toBe(
      installation.env['TANDEM_TOKEN_PUBLIC_KEY'],
    );
  });

  it('closes every client it made once, however often it is stopped', async () => {
    const installation = new TestInstallation('e2e_x', infrastructure);
    const closed: string[] = [];
    const fanout = installation.client(notStarted, services.fanout);
    const streaming = installation.connect(notStarted, (address) => ({
      address,
      close: () => closed.push(address),
    }));
    expect(fanout).toBeInstanceOf(GrpcTestClient);
    expect(streaming.address).toBe('127.0.0.1:1');

    await installation.stop();
    await installation.stop();

    expect(closed).toEqual(['127.0.0.1:1']);
    await expect(fanout.call('GetInboxStatus', {})).rejects.toThrow(/shut down/);
  });
});
