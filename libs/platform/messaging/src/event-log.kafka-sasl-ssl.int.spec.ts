import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@tandem/config';
import { uniqueName } from '@tandem/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { aRecord, valueOf } from './event-log.contract';
import { KafkaEventLog, type KafkaLogger } from './event-log.kafka';
import type { IncomingRecord, Subscription } from './event-log.port';

/**
 * The event log through a SASL_SSL listener, as managed Kafka (MSK, Confluent Cloud, Aiven) and
 * Strimzi's TLS listeners speak it: the local Kafka of infra/bin/up opens one (TLS with a client
 * certificate, then SCRAM) and exports KAFKA_SASL_SSL_*. The adapter is configured exactly as the
 * services configure it: Tandem's variables (KAFKA_SSL*, KAFKA_SASL_*) through loadConfig.
 */
const listener = {
  brokers: process.env['KAFKA_SASL_SSL_BROKERS'],
  caFile: process.env['KAFKA_SASL_SSL_CA_FILE'],
  certFile: process.env['KAFKA_SASL_SSL_CERT_FILE'],
  keyFile: process.env['KAFKA_SASL_SSL_KEY_FILE'],
  username: process.env['KAFKA_SASL_SSL_USERNAME'],
  password: process.env['KAFKA_SASL_SSL_PASSWORD'],
};
const missing = Object.entries(listener)
  .filter(([, value]) => !value)
  .map(([name]) => name);
// Elsewhere (testcontainers, a developer's own Kafka) there may be no such listener; CI always has one.
const inCI = process.env['CI'] === 'true';

const ignore = (): void => undefined;
const quiet: KafkaLogger = { error: ignore, warn: ignore, info: ignore, debug: ignore };

/** Tandem's own environment for the listener, as a deployment would set it. */
function tandemEnvironment(overrides: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    KAFKA_BROKERS: listener.brokers,
    MONGODB_URI: 'mongodb://unused.invalid:27017',
    KAFKA_SSL: 'true',
    KAFKA_SSL_CA_FILE: listener.caFile,
    KAFKA_SSL_CERT_FILE: listener.certFile,
    KAFKA_SSL_KEY_FILE: listener.keyFile,
    KAFKA_SASL_MECHANISM: 'scram-sha-512',
    KAFKA_SASL_USERNAME: listener.username,
    KAFKA_SASL_PASSWORD: listener.password,
    ...overrides,
  };
}

function eventLogFor(env: NodeJS.ProcessEnv): KafkaEventLog {
  const config = loadConfig(env);
  return new KafkaEventLog({
    brokers: config.kafkaBrokers,
    security: config.kafkaSecurity,
    clientId: uniqueName('sasl-ssl'),
    logger: quiet,
    onError: ignore,
    retryBackoff: { initialMs: 100, maxMs: 1_000 },
  });
}

describe.skipIf(missing.length > 0 && !inCI)('the Kafka event log over SASL_SSL with SCRAM', () => {
  const opened: KafkaEventLog[] = [];
  const subscriptions: Subscription[] = [];
  const open = (env: NodeJS.ProcessEnv): KafkaEventLog => {
    const log = eventLogFor(env);
    opened.push(log);
    return log;
  };

  beforeAll(() => {
    if (missing.length > 0) {
      throw new Error(
        `${missing.join(', ')} not set: start Kafka with infra/bin/up, which opens a SASL_SSL listener and exports them`,
      );
    }
  });

  afterEach(async () => {
    for (const subscription of subscriptions.splice(0)) await subscription.stop();
    for (const log of opened.splice(0)) await log.close();
  });

  // The listener takes unsigned OAUTHBEARER tokens (Kafka's unsecured validator, infra/bin/up): the
  // token file stands for one an identity provider issued and something else keeps fresh.
  const tokenDir = mkdtempSync(join(tmpdir(), 'tandem-oauthbearer-'));
  afterAll(() => rmSync(tokenDir, { recursive: true, force: true }));
  const tokenFile = (lifetimeSeconds = 3600): string => {
    const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const claims = { sub: 'tandem', iat: now - 7200, exp: now + lifetimeSeconds };
    const path = join(tokenDir, uniqueName('token'));
    writeFileSync(path, `${encode({ alg: 'none' })}.${encode(claims)}.\n`);
    return path;
  };

  it.each([
    ['SCRAM-SHA-512', () => ({ KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512' })],
    ['SCRAM-SHA-256', () => ({ KAFKA_SASL_MECHANISM: 'scram-sha-256' })],
    ['PLAIN', () => ({ KAFKA_SASL_MECHANISM: 'plain' })],
    [
      'OAUTHBEARER',
      () => ({
        KAFKA_SASL_MECHANISM: 'oauthbearer',
        KAFKA_SASL_USERNAME: undefined,
        KAFKA_SASL_PASSWORD: undefined,
        KAFKA_SASL_OAUTHBEARER_TOKEN_FILE: tokenFile(),
      }),
    ],
  ] as const)(
    'produces and consumes with %s, a client certificate and the listener CA',
    async (_, settings) => {
      const log = open(tandemEnvironment(settings()));
      const topic = uniqueName('sasl-ssl');
      await log.ensureTopics([{ name: topic, partitions: 2 }]);
      await log.publish(topic, [
        aRecord('alice', 'first'),
        aRecord('bob', 'second'),
        aRecord('alice', 'third'),
      ]);

      const received: IncomingRecord[] = [];
      const all = new Promise<void>((resolve) => {
        void log
          .subscribe({
            groupId: uniqueName('sasl-ssl-group'),
            topics: [topic],
            onBatch: async (batch) => {
              received.push(...batch.records);
              if (received.length === 3) resolve();
            },
          })
          .then((subscription) => subscriptions.push(subscription));
      });
      await expect(
        Promise.race([
          all,
          new Promise((_, reject) => setTimeout(() => reject(new Error('no records')), 30_000)),
        ]),
      ).resolves.toBeUndefined();
      expect(received.filter((record) => record.key === 'alice').map(valueOf)).toEqual(['first', 'third']);
      expect(received.filter((record) => record.key === 'bob').map(valueOf)).toEqual(['second']);
    },
  );

  it('is refused with a wrong password', async () => {
    const log = open(tandemEnvironment({ KAFKA_SASL_PASSWORD: `${listener.password}-wrong` }));
    await expect(log.ensureTopics([{ name: uniqueName('refused'), partitions: 1 }])).rejects.toThrow(
      /SASL SCRAM SHA512 authentication failed/,
    );
  });

  it('is refused with an expired OAUTHBEARER token', async () => {
    const log = open(
      tandemEnvironment({
        KAFKA_SASL_MECHANISM: 'oauthbearer',
        KAFKA_SASL_USERNAME: undefined,
        KAFKA_SASL_PASSWORD: undefined,
        KAFKA_SASL_OAUTHBEARER_TOKEN_FILE: tokenFile(-60),
      }),
    );
    // The broker answers an invalid token with a challenge kafkajs does not read and closes the
    // connection: kafkajs reports it as no broker left, while the fresh token above connects.
    await expect(log.ensureTopics([{ name: uniqueName('expired'), partitions: 1 }])).rejects.toThrow(
      /No brokers in the broker pool|SASL OAUTHBEARER authentication failed/,
    );
  });

  it('is refused without a client certificate, which this listener requires', async () => {
    const log = open(tandemEnvironment({ KAFKA_SSL_CERT_FILE: undefined, KAFKA_SSL_KEY_FILE: undefined }));
    await expect(log.ensureTopics([{ name: uniqueName('anonymous'), partitions: 1 }])).rejects.toThrow(
      /alert bad certificate/,
    );
  });

  it('is refused without the listener CA: the broker certificate is not trusted', async () => {
    const log = open(tandemEnvironment({ KAFKA_SSL_CA_FILE: undefined }));
    await expect(log.ensureTopics([{ name: uniqueName('untrusted'), partitions: 1 }])).rejects.toThrow(
      /self-signed certificate in certificate chain/,
    );
  });
});
