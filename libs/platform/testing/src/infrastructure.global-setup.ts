import type { TestProject } from 'vitest/node';
import { execFileSync } from 'node:child_process';

/**
 * Finds the Kafka broker and MongoDB-protocol server the integration and end-to-end tests run against:
 * KAFKA_BROKERS and MONGODB_URI when set (CI, or a developer's own servers), else containers started
 * with testcontainers when a Docker engine answers, else the run fails and says how to get either.
 * It never lets those tests skip.
 */
export default async function setup(project: TestProject): Promise<(() => Promise<void>) | void> {
  // The S3-compatible server (infra/bin/up starts S3Proxy): the tests that need it fail without it.
  project.provide('s3', {
    endpoint: process.env['S3_ENDPOINT'] ?? '',
    region: process.env['S3_REGION'] ?? 'us-east-1',
    accessKeyId: process.env['S3_ACCESS_KEY_ID'] ?? '',
    secretAccessKey: process.env['S3_SECRET_ACCESS_KEY'] ?? '',
  });
  const brokers = process.env['KAFKA_BROKERS'];
  const mongoUri = process.env['MONGODB_URI'];
  if (brokers && mongoUri) {
    project.provide('kafkaBrokers', brokers);
    project.provide('mongoUri', mongoUri);
    return;
  }
  if (!dockerAnswers()) {
    throw new Error(
      [
        'Integration and end-to-end tests need a Kafka broker and a MongoDB-protocol server.',
        'Either start them on this machine and export their addresses:',
        '  eval "$(npm run --silent infra:up)"   # Kafka (KRaft) and FerretDB, no Docker needed',
        'or set KAFKA_BROKERS=host:port and MONGODB_URI=mongodb://host:port/?directConnection=true,',
        'or run a Docker engine so that testcontainers can start both.',
      ].join('\n'),
    );
  }
  const { KafkaContainer } = await import('@testcontainers/kafka');
  const { MongoDBContainer } = await import('@testcontainers/mongodb');
  const [kafka, mongo] = await Promise.all([
    new KafkaContainer('confluentinc/cp-kafka:8.1.0').withKraft().start(),
    new MongoDBContainer('mongo:8.0').start(),
  ]);
  project.provide('kafkaBrokers', `${kafka.getHost()}:${kafka.getMappedPort(9093)}`);
  project.provide('mongoUri', `${mongo.getConnectionString()}/?directConnection=true`);
  return async () => {
    await Promise.all([kafka.stop(), mongo.stop()]);
  };
}

function dockerAnswers(): boolean {
  try {
    execFileSync('docker', ['info', '--format', '{{.ServerVersion}}'], { stdio: 'ignore', timeout: 5_000 });
    return true;
  } catch {
    return false;
  }
}

declare module 'vitest' {
  export interface ProvidedContext {
    kafkaBrokers: string;
    mongoUri: string;
    s3: { endpoint: string; region: string; accessKeyId: string; secretAccessKey: string };
  }
}
