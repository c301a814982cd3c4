import { Writable } from 'node:stream';
import { isDomainError } from '@tandem/decider';
import { DelayingProxy, testInfrastructure, uniqueName } from '@tandem/testing';
import { type Db, MongoClient } from 'mongodb';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RateLimit, RateLimitSpec } from './rate-limit';
import { MongoRateLimits } from './rate-limit.mongo';

/** Long enough that no test straddles two windows (windows are aligned to the epoch). */
const LONG_WINDOW_SECONDS = 1_000_000;

const spec = (overrides: Partial<RateLimitSpec> = {}): RateLimitSpec => ({
  name: 'send',
  what: 'messages from this device',
  points: 5,
  windowSeconds: LONG_WINDOW_SECONDS,
  ...overrides,
});

/** A logger whose lines the test reads. */
function capturedLogger() {
  const lines: { level: number; msg: string }[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as { level: number; msg: string });
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

/** Consumes once per key; resolves with 'accepted' or the refusal's retry-after, failing on anything else. */
async function outcome(limit: RateLimit, key: string): Promise<'accepted' | { retryAfterMs: number }> {
  try {
    await limit.consume(key);
    return 'accepted';
  } catch (error) {
    if (!isDomainError(error) || error.kind !== 'resource-exhausted') throw error;
    expect(error.message).toMatch(/^too many messages from this device; retry in \d+ s$/);
    return { retryAfterMs: error.details?.['retryAfterMs'] as number };
  }
}

const accepted = (outcomes: readonly unknown[]) => outcomes.filter((each) => each === 'accepted').length;

describe('rate limits in MongoDB, shared by the replicas of a service', () => {
  const clients: MongoClient[] = [];
  let databaseName: string;
  /** A database handle of its own client per replica, as two processes have. */
  const replicaDb = async (): Promise<Db> => {
    const client = await MongoClient.connect(testInfrastructure().mongoUri);
    clients.push(client);
    return client.db(databaseName);
  };

  beforeAll(() => {
    databaseName = uniqueName('rate_limits');
  });

  afterAll(async () => {
    await clients[0]?.db(databaseName).dropDatabase();
    for (const client of clients) await client.close();
  });

  it('accepts exactly the budget of requests spread over two replicas at once, and refuses the rest with the wait', async () => {
    const { logger } = capturedLogger();
    const [first, second] = await Promise.all([
      MongoRateLimits.open(await replicaDb(), logger),
      MongoRateLimits.open(await replicaDb(), logger),
    ]);
    const replicas = [first.limit(spec()), second.limit(spec())];

    const outcomes = await Promise.all(
      Array.from({ length: 20 }, (_, index) => outcome(replicas[index % 2]!, 'device-1')),
    );
    expect(accepted(outcomes)).toBe(5);
    for (const refused of outcomes.filter((each) => each !== 'accepted')) {
      expect(refused.retryAfterMs).toBeGreaterThan(0);
      expect(refused.retryAfterMs).toBeLessThanOrEqual(LONG_WINDOW_SECONDS * 1000);
    }

    // One after another, each replica finds the budget used up, the one that took none too.
    expect(await outcome(replicas[0]!, 'device-1')).not.toBe('accepted');
    expect(await outcome(replicas[1]!, 'device-1')).not.toBe('accepted');
  });

  it('counts each key, and each limit, apart', async () => {
    const { logger } = capturedLogger();
    const [first, second] = await Promise.all([
      MongoRateLimits.open(await replicaDb(), logger),
      MongoRateLimits.open(await replicaDb(), logger),
    ]);
    const sends = [first.limit(spec({ points: 2 })), second.limit(spec({ points: 2 }))];
    const links = second.limit(spec({ name: 'begin-link', points: 2 }));

    const sequentially = async (limit: RateLimit, key: string, times: number) => {
      const outcomes = [];
      for (let index = 0; index < times; index++) outcomes.push(await outcome(limit, key));
      return outcomes;
    };
    expect(
      accepted([...(await sequentially(sends[0]!, 'a', 2)), ...(await sequentially(sends[1]!, 'a', 2))]),
    ).toBe(2);
    expect(accepted(await sequentially(sends[1]!, 'b', 3))).toBe(2);
    expect(accepted(await sequentially(links, 'a', 3))).toBe(2);
    // Another budget for the same name counts afresh rather than against the old terms.
    expect(accepted(await sequentially(first.limit(spec({ points: 3 })), 'a', 4))).toBe(3);
  });

  it('starts every window afresh, and the sweep removes the tickets of windows that have ended', async () => {
    const { logger } = capturedLogger();
    const db = await replicaDb();
    const limits = await MongoRateLimits.open(db, logger);
    const limit = limits.limit(spec({ name: 'short', points: 2, windowSeconds: 1 }));
    // Start just after a window began, so that three requests fall in it.
    await new Promise((resolve) => setTimeout(resolve, 1000 - (Date.now() % 1000) + 20));
    expect([await outcome(limit, 'k'), await outcome(limit, 'k'), await outcome(limit, 'k')]).toEqual([
      'accepted',
      'accepted',
      { retryAfterMs: expect.any(Number) },
    ]);
    await new Promise((resolve) => setTimeout(resolve, 1000 - (Date.now() % 1000) + 20));
    expect(await outcome(limit, 'k')).toBe('accepted');

    const tickets = () =>
      db.collection<{ _id: string }>('rate_limits').countDocuments({ _id: { $regex: /^short\// } });
    expect(await tickets()).toBe(3);
    // As at the start of this window: the two tickets of the one before have expired, not this one's.
    expect(await limits.sweep(new Date(Math.floor(Date.now() / 1000) * 1000))).toBe(2);
    expect(await tickets()).toBe(1);
  });

  it('counts in each process when the store does not answer, never failing or holding a request for it', async () => {
    // A proxy to the server that adds no delay: closing it is the store going away.
    const { hostname, port } = new URL(testInfrastructure().mongoUri.replace(/^mongodb:/, 'http:'));
    const relay = await DelayingProxy.start({ host: hostname, port: Number(port) }, 0);
    const client = await MongoClient.connect(
      `mongodb://${relay.address}/?directConnection=true&serverSelectionTimeoutMS=500`,
    );
    clients.push(client);
    const { logger, lines } = capturedLogger();
    const limits = await MongoRateLimits.open(client.db(databaseName), logger);
    const limit = limits.limit(spec({ name: 'outage', points: 3 }));
    expect(await outcome(limit, 'k')).toBe('accepted');

    await relay.close();
    const started = Date.now();
    const outcomes = [];
    for (let index = 0; index < 4; index++) outcomes.push(await outcome(limit, 'k'));
    expect(Date.now() - started).toBeLessThan(3_000);
    // The process's own count starts with the outage: three more, then refused.
    expect(outcomes.slice(0, 3)).toEqual(['accepted', 'accepted', 'accepted']);
    expect(outcomes[3]).toEqual({ retryAfterMs: expect.any(Number) });
    const warnings = lines.filter((line) => line.level === 40);
    expect(warnings.map((line) => line.msg)).toEqual([
      'the rate limit store failed; counting in this process for a while',
    ]);
  });
});
