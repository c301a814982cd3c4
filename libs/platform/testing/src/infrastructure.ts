import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';

/** The real Kafka broker and MongoDB-protocol server found by the global setup. */
export function testInfrastructure(): { kafkaBrokers: string[]; mongoUri: string } {
  return { kafkaBrokers: inject('kafkaBrokers').split(','), mongoUri: inject('mongoUri') };
}

/** The S3-compatible server the global setup found (S3_ENDPOINT and its keys); fails without one. */
export function testS3(): { endpoint: string; region: string; accessKeyId: string; secretAccessKey: string } {
  const s3 = inject('s3');
  if (!s3.endpoint || !s3.accessKeyId) {
    throw new Error(
      'These tests need an S3-compatible server: eval "$(npm run --silent infra:up)" starts S3Proxy and sets S3_ENDPOINT, S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY',
    );
  }
  return s3;
}

/** A bucket name of its own for a test: lowercase letters, digits and hyphens. */
export const uniqueBucket = (prefix: string): string => uniqueName(prefix).toLowerCase().replaceAll('_', '-');

/** A fresh name for topics, groups and databases, so tests isolate by ids, not truncation. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
}
