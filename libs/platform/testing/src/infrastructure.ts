import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';

/** The real Kafka broker and MongoDB-protocol server found by the global setup. */
export function testInfrastructure(): { kafkaBrokers: string[]; mongoUri: string } {
  return { kafkaBrokers: inject('kafkaBrokers').split(','), mongoUri: inject('mongoUri') };
}

/** A fresh name for topics, groups and databases, so tests isolate by ids, not truncation. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
}
