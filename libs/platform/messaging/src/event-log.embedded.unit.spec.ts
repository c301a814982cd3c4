import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { aRecord, describeEventLogContract, valueOf } from './event-log.contract';
import { EmbeddedEventLog } from './event-log.embedded';
import type { IncomingRecord } from './event-log.port';

const fastRetries = { initialMs: 20, maxMs: 200 };

describeEventLogContract('embedded', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'tandem-event-log-'));
  return {
    open: async () => new EmbeddedEventLog({ dataDir, retryBackoff: fastRetries, onError: () => undefined }),
    name: (prefix) => `${prefix}-${randomUUID()}`,
    deliveryTimeoutMs: 3_000,
    dispose: () => rm(dataDir, { recursive: true, force: true }),
  };
});

describe('the embedded event log, beyond the port', () => {
  let dataDir: string;
  let log: EmbeddedEventLog;

  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'tandem-event-log-'));
    log = new EmbeddedEventLog({ dataDir });
    await log.ensureTopics([{ name: 'tandem.test.events', partitions: 3 }]);
  });

  afterEach(async () => {
    await log.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  describe('when a replay tool reads a topic', () => {
    beforeEach(async () => {
      await log.publish(
        'tandem.test.events',
        Array.from({ length: 9 }, (_, index) =>
          aRecord(`account-${index % 3}`, `r${index}`, { timestamp: 1_000 + index }),
        ),
      );
    });

    it('reads one partition in offset order from an offset', async () => {
      const [first] = await log.read('tandem.test.events', { limit: 1 });
      const partition = first!.partition;

      const records = await log.read('tandem.test.events', { partition, fromOffset: '1', limit: 10 });

      expect(records.map((record) => record.offset)).toEqual(['1', '2']);
      expect(new Set(records.map((record) => record.partition))).toEqual(new Set([partition]));
    });

    it('reads every partition from a time, up to a limit', async () => {
      const all = await log.read('tandem.test.events', { limit: 100 });
      const recent = await log.read('tandem.test.events', { fromTimestamp: 1_006, limit: 100 });
      const limited = await log.read('tandem.test.events', { limit: 4 });

      expect(all.map(valueOf).sort()).toEqual(['r0', 'r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7', 'r8']);
      expect(recent.map(valueOf).sort()).toEqual(['r6', 'r7', 'r8']);
      expect(limited).toHaveLength(4);
    });

    it('refuses a topic that does not exist', async () => {
      await expect(log.read('tandem.nothing.events', { limit: 1 })).rejects.toThrow(/unknown topic/);
    });
  });

  describe('when a subscriber is waiting and a record is published', () => {
    it('wakes it at once, without polling', async () => {
      const received: { record: IncomingRecord; at: number }[] = [];
      const subscription = await log.subscribe({
        groupId: 'waiting',
        topics: ['tandem.test.events'],
        onBatch: async (batch) => {
          received.push(...batch.records.map((record) => ({ record, at: performance.now() })));
        },
      });
      await new Promise((resolve) => setTimeout(resolve, 50));

      const publishedAt = performance.now();
      await log.publish('tandem.test.events', [aRecord('account-1', 'ping')]);

      await vi.waitFor(() => expect(received).toHaveLength(1), { timeout: 5_000, interval: 1 });
      // An idle subscriber sets no timer: the publish wakes it. The bound is loose enough for a busy
      // machine and still fails a subscriber that waits for a poll of a second or more.
      expect(received[0]!.at - publishedAt).toBeLessThan(1_000);
      await subscription.stop();
    });
  });

  describe('when publishing to a topic that was never created', () => {
    it('fails and stores nothing', async () => {
      await expect(log.publish('tandem.nothing.events', [aRecord('account-1', 'lost')])).rejects.toThrow(
        /unknown topic/,
      );
    });
  });

  describe('when a second client opens the same data folder in the process', () => {
    it('shares the wake-ups and the consumer groups with the first', async () => {
      const other = new EmbeddedEventLog({ dataDir });
      const seen: string[] = [];
      const subscription = await other.subscribe({
        groupId: 'shared',
        topics: ['tandem.test.events'],
        onBatch: async (batch) => {
          seen.push(...batch.records.map(valueOf));
        },
      });

      await log.publish('tandem.test.events', [aRecord('account-1', 'from-the-first-client')]);

      await vi.waitFor(() => expect(seen).toEqual(['from-the-first-client']), { timeout: 1_000 });
      await subscription.stop();
      await other.close();
      await log.publish('tandem.test.events', [aRecord('account-1', 'still open')]);
      expect((await log.read('tandem.test.events', { limit: 10 })).map(valueOf)).toContain('still open');
    });
  });
});
